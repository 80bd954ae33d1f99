"""`manage.py sync_messenger_profile`: push accounts' ice breakers and menu to Meta."""

from argparse import ArgumentTypeError

from django.core.management.base import BaseCommand, CommandError

from accounts import messenger_profile
from accounts.models import InstagramBusinessAccount
from instabot.rest import ID_DIGITS


def account_id(value: str) -> int:
    """An argparse type: an id in ASCII digits that fits the column."""
    if not ID_DIGITS.fullmatch(value):
        raise ArgumentTypeError(f"{value[:40]!r} is not an account id (digits 0-9)")
    return int(value)


class Command(BaseCommand):
    help = (
        "Push the ice breakers and persistent menu staff set in the admin to Meta (POST "
        "me/messenger_profile), then read them back and say whether Meta has the same. "
        "With --check, only read them back (drift shows in the admin)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--account",
            action="append",
            type=account_id,
            default=[],
            help="An account's id in this service (repeatable). Default: every active account.",
        )
        parser.add_argument(
            "--check", action="store_true", help="Only read Meta's back; push nothing."
        )

    def handle(self, **options):
        accounts = InstagramBusinessAccount.objects.filter(is_active=True)
        if options["account"]:
            accounts = InstagramBusinessAccount.objects.filter(pk__in=options["account"])
            if missing := set(options["account"]) - set(accounts.values_list("pk", flat=True)):
                raise CommandError(f"No account with id {', '.join(map(str, sorted(missing)))}.")
        for account in accounts:
            if options["check"]:
                outcome = messenger_profile.read_back(account)
            else:
                outcome = messenger_profile.push(account)
            self.stdout.write(f"{account}: {outcome}")
