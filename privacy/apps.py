from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    name = "privacy"
    verbose_name = "Privacy (Meta's callbacks, data deletion)"

    def ready(self):
        from messaging.worker_pass import Stage, register_step
        from privacy.erasure import REQUEUE_AFTER, requeue_pending_deletions

        # An erasure whose task was lost (the queue down when Meta asked) is queued again;
        # erasing twice changes nothing.
        register_step(
            Stage.UPKEEP,
            "Queuing data deletions whose task was lost",
            requeue_pending_deletions,
            every=REQUEUE_AFTER.total_seconds,
        )
