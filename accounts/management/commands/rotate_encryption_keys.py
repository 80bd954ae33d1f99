"""`manage.py rotate_encryption_keys`: re-encrypt every stored credential with the newest key."""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.models import CREDENTIAL_FIELDS, InstagramBusinessAccount
from accounts.services import unreadable_credentials


class Command(BaseCommand):
    help = (
        "Re-encrypt every account credential with the first (newest) key of "
        "FIELD_ENCRYPTION_KEY. Run it after putting a new key in front; then the old keys "
        "can be removed. Safe to run again."
    )

    def handle(self, **options):
        if unreadable := unreadable_credentials():
            # Saving would write them back as they are: they would stay on a key to be removed.
            raise CommandError(
                "No FIELD_ENCRYPTION_KEY key opens these stored credentials; put the key they "
                "were encrypted with back in the list (or enter them again), then run this "
                "again: " + "; ".join(unreadable)
            )
        rotated = 0
        with transaction.atomic():
            for account in InstagramBusinessAccount.objects.select_for_update():
                # Reading decrypts with whichever key opens it; saving encrypts with the newest.
                account.save(update_fields=CREDENTIAL_FIELDS)
                rotated += 1
        self.stdout.write(
            self.style.SUCCESS(f"Re-encrypted the credentials of {rotated} account(s).")
        )
