"""`manage.py check_setup [--account ID]`: each account's setup check; exit status 1 when
something is wrong."""

from django.core.management.base import BaseCommand, CommandError

from accounts import setup_check
from accounts.models import InstagramBusinessAccount


class Command(BaseCommand):
    help = (
        "Check each account's setup with Meta: the token, the permissions granted, the webhook "
        "fields subscribed, whether webhooks arrive; and print the callback URLs for Meta's "
        "App Dashboard. Exits with status 1 when something is wrong."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--account",
            action="append",
            default=[],
            metavar="INSTAGRAM_ID_OR_USERNAME",
            help="check only this account (repeat for several); default: every active one",
        )

    def handle(self, *, account, **options):
        accounts = InstagramBusinessAccount.objects.order_by("name")
        if account:
            wanted = [a.lstrip("@") for a in account]
            accounts = accounts.filter(instagram_id__in=wanted) | accounts.filter(
                username__in=wanted
            )
            if not accounts.exists():
                raise CommandError(f"No account {', '.join(account)}.")
        else:
            accounts = accounts.filter(is_active=True)
        wrong = 0
        for checked in accounts:
            self.stdout.write(f"{checked} ({checked.instagram_id}, {checked.get_api_display()})")
            for check in setup_check.check_account(checked):
                mark = "ok     " if check.ok else "PROBLEM"
                self.stdout.write(f"  {mark} {check.name}: {check.detail}")
                if check.fix:
                    self.stdout.write(f"          fix: {check.fix}")
                wrong += not check.ok
        if not accounts:
            self.stdout.write("No active account is stored: connect one in the admin.")
        self.stdout.write("Callback URLs for Meta's App Dashboard:")
        origins = setup_check.callback_urls()
        for origin in origins:
            for label, url in origin["urls"]:
                self.stdout.write(f"  {label}: {url}")
        if not origins:
            self.stdout.write("  none: set ALLOWED_HOSTS to the service's public host name")
        if wrong:
            raise SystemExit(1)
