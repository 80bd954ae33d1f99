"""`manage.py reprocess_webhooks --since 2d`: handle stored deliveries again (idempotent)."""

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import timezone

from accounts.models import InstagramBusinessAccount
from messaging import services, signatures
from messaging.management.durations import age
from messaging.models import WebhookDelivery
from messaging.payloads import PayloadError, parse_delivery


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
        secrets = [settings.FACEBOOK_APP_SECRET] + [
            account.app_secret
            for account in InstagramBusinessAccount.objects.all()
            if account.app_secret
        ]
        counts = {"handled": 0, "unsigned": 0, "unreadable": 0, "not stored": 0}
        for delivery in deliveries.order_by("received_at", "id").iterator():
            body = bytes(delivery.body)
            secret = signatures.secret_that_signed(
                body, delivery.headers.get(signatures.SIGNATURE_HEADER), secrets
            )
            if secret is None:
                # Signed with a secret we no longer have: we cannot tell whose it is.
                counts["unsigned"] += 1
                continue
            try:
                payload = parse_delivery(body)
            except PayloadError as exc:
                delivery.finish(WebhookDelivery.State.REJECTED, str(exc))
                counts["unreadable"] += 1
                continue
            outcome = services.handle_delivery(delivery, payload, verified_with=secret)
            counts["handled" if outcome.stored else "not stored"] += 1
        self.stdout.write(", ".join(f"{count} {what}" for what, count in counts.items()))
