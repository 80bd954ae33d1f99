"""`manage.py retry_failed_sends`: queue failed outgoing messages again (after an outage)."""

from django.core.management.base import BaseCommand
from django.utils import timezone

from messaging.management.durations import age
from messaging.models import Message
from messaging.sending import retry_failed


class Command(BaseCommand):
    help = (
        "Queue failed outgoing messages again, each from its first unsent part: after a Graph "
        "API outage, or once an account's token is replaced. Cancelled bot replies (staff took "
        "over) are not retried. Instagram refuses messages outside its 24-hour window; those "
        "fail again with that reason."
    )

    def add_arguments(self, parser):
        parser.add_argument("--since", type=age, help="only messages created this recently")
        parser.add_argument("--account", help="only this account's messages (its Instagram id)")

    def handle(self, *, since, account, **options):
        failed = Message.objects.filter(
            direction=Message.Direction.OUTGOING, status=Message.Status.FAILED
        )
        if since:
            failed = failed.filter(created_at__gte=timezone.now() - since)
        if account:
            failed = failed.filter(conversation__instagram_account_id=account)
        # One retry per message, however many of its parts failed (it resumes from the first).
        heads = {message.first_part_id or message.pk for message in failed.only("pk", "first_part")}
        retried = sum(retry_failed(message) for message in Message.objects.filter(pk__in=heads))
        self.stdout.write(f"Queued {retried} failed message(s) again.")
