from django.apps import AppConfig
from django.conf import settings


class InboxConfig(AppConfig):
    name = "inbox"
    verbose_name = "Staff inbox"

    def ready(self):
        """Roll up the dashboard's settled days in the worker's upkeep (messaging.worker_pass):
        the core never imports this app."""
        from inbox.rollups import roll_up_recent_days, roll_up_settled_days
        from messaging.worker_pass import Stage, register_step

        register_step(
            Stage.UPKEEP,
            "Rolling up the dashboard's settled days",
            # One day a pass while any is due (a backfill): deliveries go first in between.
            roll_up_settled_days,
            every=lambda: settings.REPLY_SWEEP_INTERVAL,
            in_parts=True,
        )
        register_step(
            Stage.UPKEEP,
            "Rolling up the dashboard's today",
            roll_up_recent_days,
            every=lambda: settings.REPLY_SWEEP_INTERVAL,
        )
