"""`manage.py prune_webhooks --older-than 30d`: delete raw deliveries past their retention."""

from django.core.management.base import BaseCommand
from django.utils import timezone

from messaging.management.durations import age
from messaging.models import WebhookDelivery

BATCH = 1000


class Command(BaseCommand):
    help = (
        "Delete stored raw webhook deliveries received before the given age. Messages and "
        "conversations are kept; only the raw log goes (it can then no longer be re-processed)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--older-than", type=age, required=True, help="e.g. 30d")

    def handle(self, *, older_than, **options):
        cutoff = timezone.now() - older_than
        old = WebhookDelivery.objects.filter(received_at__lt=cutoff)
        deleted = 0
        # In batches: a long-running deployment may hold millions, and one huge DELETE would
        # lock the table (and the webhook) for its whole length.
        while ids := list(old.values_list("pk", flat=True)[:BATCH]):
            deleted += WebhookDelivery.objects.filter(pk__in=ids).delete()[0]
        self.stdout.write(
            f"Deleted {deleted} deliveries received before {cutoff:%Y-%m-%d %H:%M} UTC."
        )
