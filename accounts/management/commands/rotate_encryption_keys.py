"""`manage.py rotate_encryption_keys`: re-encrypt every stored credential with the newest key."""

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import CREDENTIAL_FIELDS, InstagramBusinessAccount


class Command(BaseCommand):
    help = (
        "Re-encrypt every account credential with the first (newest) key of "
        "FIELD_ENCRYPTION_KEY. Run it after putting a new key in front; then the old keys "
        "can be removed. Safe to run again."
    )

    def handle(self, **options):
        rotated = 0
        with transaction.atomic():
            for account in InstagramBusinessAccount.objects.select_for_update():
                # Reading decrypts with whichever key opens it; saving encrypts with the newest.
                account.save(update_fields=CREDENTIAL_FIELDS)
                rotated += 1
        self.stdout.write(
            self.style.SUCCESS(f"Re-encrypted the credentials of {rotated} account(s).")
        )
