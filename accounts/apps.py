from django.apps import AppConfig
from django.conf import settings
from django.db.models.signals import post_delete, post_save


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Business accounts"

    def ready(self):
        from accounts.encryption import validate_keys

        # A malformed key stops the service at start-up, not at the first token it reads.
        validate_keys(settings.FIELD_ENCRYPTION_KEY)

        from accounts.models import InstagramBusinessAccount
        from accounts.services import forget_stored_accounts

        # The worker reads an account once a second, not once a DM: a change made here is
        # seen here at once.
        for signal in (post_save, post_delete):
            signal.connect(
                forget_stored_accounts,
                sender=InstagramBusinessAccount,
                dispatch_uid=f"accounts-changed-{signal is post_save}",
            )
