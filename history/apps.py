from django.apps import AppConfig
from django.conf import settings


class HistoryConfig(AppConfig):
    name = "history"
    verbose_name = "History and reconciliation"

    def ready(self):
        """Plug history into the core's worker pass (messaging.worker_pass) and its wait for
        credentials (messaging.credentials_wait): the core never imports this app."""
        from accounts.setup_check import register_check
        from history import importing
        from history.health import webhooks_arriving
        from history.reconciliation import reconcile_due_accounts
        from messaging.credentials_wait import register_waiting_for_credentials
        from messaging.worker_pass import Stage, register_step

        register_step(
            Stage.UPKEEP,
            "Putting stalled history imports back to work",
            importing.requeue_stalled_imports,
            every=lambda: settings.REPLY_SWEEP_INTERVAL,
        )
        register_step(
            Stage.UPKEEP,
            "Reconciling accounts with Meta",
            # One account a pass (a second or so of Graph calls), while any is due: the
            # deliveries waiting go first between two.
            lambda: reconcile_due_accounts(limit=1),
            every=reconciliation_check_interval,
            in_parts=True,
        )
        register_check(webhooks_arriving)
        register_waiting_for_credentials(
            "history imports",
            any_waiting=importing.any_waiting_for_credentials,
            queue_now=importing.queue_imports_that_waited_for_credentials,
        )


def reconciliation_check_interval() -> float:
    """How often a worker looks for accounts whose reconciliation is due (each has its own
    next_pass_at): a tenth of RECONCILE_INTERVAL, so a pass starts at most that late, and no
    less often than the other sweeps."""
    return min(settings.RECONCILE_INTERVAL / 10, settings.REPLY_SWEEP_INTERVAL)
