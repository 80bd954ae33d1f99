from django.apps import AppConfig


class DevtoolsConfig(AppConfig):
    """Development and test tools: the fake Graph API, the DM simulator, the benchmark.
    Installed only with DEVTOOLS on (the default when DEBUG is); production never imports it."""

    name = "devtools"
    verbose_name = "Development tools"
