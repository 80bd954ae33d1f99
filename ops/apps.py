from django.apps import AppConfig


class OpsConfig(AppConfig):
    """What an operator runs and watches: the worker process (`manage.py worker`, its threads)
    and /healthz. The top layer: it imports the apps, none imports it."""

    name = "ops"
    verbose_name = "Operations"
