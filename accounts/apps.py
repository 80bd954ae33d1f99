from django.apps import AppConfig
from django.conf import settings


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Business accounts"

    def ready(self):
        from accounts.encryption import validate_keys

        # A malformed key stops the service at start-up, not at the first token it reads.
        validate_keys(settings.FIELD_ENCRYPTION_KEY)
