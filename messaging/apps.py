from django.apps import AppConfig
from django.conf import settings


class MessagingConfig(AppConfig):
    name = "messaging"
    verbose_name = "Messaging"

    def ready(self):
        from accounts.services import refresh_expiring_tokens
        from messaging import credentials_wait, outbox, recovery
        from messaging.profiles import fetch_missing_usernames
        from messaging.receiving import take_waiting_deliveries
        from messaging.retention import prune_raw_deliveries
        from messaging.sending import DirectMessages
        from messaging.worker_pass import Stage, register_step

        # The core's steps of a worker's pass come first; the feature apps add theirs after
        # (INSTALLED_APPS lists messaging first).
        register_step(Stage.WORK, "Taking waiting deliveries", take_waiting_deliveries)
        # The one outbox: every kind of send (the feature apps register theirs), a few due
        # rows a pass, DMs' first. A bot reply goes out at once after its DM (receiving); what
        # else comes due (a later part, a retry, a staff reply) the long-running worker looks
        # for at most every WORKER_POLL_INTERVAL while it finds none (worker_pass: rests).
        outbox.register(DirectMessages())
        register_step(
            Stage.WORK, "Sending due sends", outbox.send_due, settle=outbox.settle, rests=True
        )

        def sweeps() -> float:
            return settings.REPLY_SWEEP_INTERVAL

        register_step(
            Stage.UPKEEP,
            "Queuing what waited for credentials",
            credentials_wait.queue_work_waiting_for_credentials,
            # Every few seconds, not every sweep: a key fixed or credentials entered again
            # free everything at once. Cheap while nothing waits (one query per kind).
            every=lambda: settings.WORKER_HEARTBEAT_INTERVAL,
        )
        register_step(
            Stage.UPKEEP,
            "Sweeping stalled deliveries",
            recovery.sweep_stalled_deliveries,
            every=sweeps,
        )
        register_step(
            Stage.UPKEEP, "Sweeping stalled sends", recovery.sweep_stalled_sends, every=sweeps
        )
        register_step(
            Stage.UPKEEP, "Pruning old raw deliveries", prune_raw_deliveries, every=sweeps
        )
        register_step(
            Stage.UPKEEP,
            "Refreshing account tokens",
            refresh_expiring_tokens,
            # Instagram Login tokens live 60 days: an hourly look is plenty.
            every=lambda: TOKEN_REFRESH_INTERVAL,
        )
        register_step(Stage.WHEN_IDLE, "Fetching missing usernames", fetch_missing_usernames)
        credentials_wait.register_the_cores_kinds()

        from accounts.signals import account_reconnected
        from messaging.outbox import resend_after_reconnect

        # A reconnected account's sends that its token stopped go out again, of every kind.
        account_reconnected.connect(resend_after_reconnect, dispatch_uid="resend-after-reconnect")


# Seconds between two looks for Instagram Login tokens to refresh.
TOKEN_REFRESH_INTERVAL = 3600
