"""How long the raw webhook deliveries are kept: the worker's upkeep deletes the handled ones
(processed, or rejected as unreadable) once they are RAW_DELIVERY_RETENTION_DAYS old.

What they said is stored already (messages, comments, their events); the raw body is kept for
a while to look into a problem or to handle a delivery again (`reprocess_webhooks`). Failed
deliveries and those waiting for credentials are kept: they still await someone.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from messaging.models import WebhookDelivery

logger = logging.getLogger(__name__)

# Rows deleted per statement: a short write at a time, so that the webhook's inserts (on
# SQLite, waiting for the write lock) are never held up long.
PRUNE_BATCH = 1000

PRUNED_STATES = (WebhookDelivery.State.PROCESSED, WebhookDelivery.State.REJECTED)


def prune_raw_deliveries(now: datetime | None = None) -> int:
    """Delete the handled deliveries older than the retention; return how many. 0 days: keep
    them all."""
    if settings.RAW_DELIVERY_RETENTION_DAYS <= 0:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=settings.RAW_DELIVERY_RETENTION_DAYS)
    old = WebhookDelivery.objects.filter(state__in=PRUNED_STATES, received_at__lt=cutoff)
    pruned = 0
    while batch := list(old.order_by("received_at").values_list("pk", flat=True)[:PRUNE_BATCH]):
        pruned += WebhookDelivery.objects.filter(pk__in=batch).delete()[0]
    if pruned:
        logger.info(
            "Deleted %d raw deliveries older than %d days",
            pruned,
            settings.RAW_DELIVERY_RETENTION_DAYS,
        )
    return pruned
