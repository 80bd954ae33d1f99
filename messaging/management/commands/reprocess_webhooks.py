"""`manage.py reprocess_webhooks --since 2d`: handle stored deliveries again (idempotent)."""

from django.core.management.base import BaseCommand
from django.utils import timezone

from messaging.management.durations import age
from messaging.models import Message, WebhookDelivery
from messaging.receiving import handle_delivery
from messaging.worker_identity import this_worker


class Command(BaseCommand):
    help = (
        "Handle stored webhook deliveries again, oldest first: after a fix, or to catch up on "
        "deliveries whose events could not be handled. Messages already stored are not stored "
        "again and never answered twice; messages older than Instagram's 24-hour window are "
        "stored but not answered."
    )

    def add_arguments(self, parser):
        parser.add_argument("--since", type=age, required=True, help="how far back, e.g. 2d or 6h")
        parser.add_argument(
            "--state",
            action="append",
            choices=WebhookDelivery.State.values,
            help="only deliveries in this state (repeatable; default: every state)",
        )

    def handle(self, *, since, state, **options):
        deliveries = WebhookDelivery.objects.filter(received_at__gte=timezone.now() - since)
        if state:
            deliveries = deliveries.filter(state__in=state)
        counts = {
            "handled": 0,
            "unsigned": 0,
            "unreadable": 0,
            "waiting for credentials": 0,
            "not stored": 0,
        }
        for delivery in deliveries.order_by("received_at", "id").iterator():
            outcome = handle_delivery(delivery)
            # A worker sends the replies it stores at once; from here, the workers' sender does.
            for reply in outcome.replies:
                Message.let_go(reply.pk, from_worker=this_worker())
            if outcome.unsigned:
                counts["unsigned"] += 1
            elif outcome.unreadable:
                counts["unreadable"] += 1
            elif outcome.waiting_for_credentials and outcome.stored:
                counts["waiting for credentials"] += 1
            else:
                counts["handled" if outcome.stored else "not stored"] += 1
        self.stdout.write(", ".join(f"{count} {what}" for what, count in counts.items()))
