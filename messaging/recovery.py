"""The sweeps: work a killed worker or a lost task left behind, put back to work.

Every change is a conditional UPDATE, so a sweep racing a worker (or another sweep) changes
nothing twice. Any live worker's upkeep runs them (messaging.upkeep).
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.services import unreadable_credentials
from messaging.models import Message, WebhookDelivery
from messaging.sending import enqueue_send, fail_later_parts, finish_sent, retry_or_fail

logger = logging.getLogger(__name__)

# At most this many rows of each kind per sweep: a huge backlog is swept over several passes.
SWEEP_BATCH = 1000


@dataclass
class SweepResult:
    requeued: int = 0  # queued replies whose task went missing, queued again
    resent: int = 0  # replies whose worker died mid-send, put back for another attempt
    confirmed: int = 0  # replies whose worker died mid-send, but whose echo proved delivery
    released: int = 0  # later parts of split replies whose release was lost


def sweep_stalled_deliveries(now: datetime | None = None) -> int:
    """Put back in the queue every delivery whose worker was killed while handling it: a
    worker claimed it longer than REPLY_STALLED_AFTER ago and never finished. Handling is
    idempotent, so what that worker stored is not stored twice. Returns how many."""
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.REPLY_STALLED_AFTER)
    stalled = WebhookDelivery.objects.filter(
        state=WebhookDelivery.State.PROCESSING, handling_since__lt=cutoff
    )
    requeued = 0
    for pk in stalled.values_list("pk", flat=True)[:SWEEP_BATCH]:
        # Conditional: a worker that finishes it meanwhile wins, and it is not queued again.
        back = {"state": WebhookDelivery.State.RECEIVED, "handling_since": timezone.now()}
        if stalled.filter(pk=pk).update(**back):
            logger.warning("Delivery %s: its worker stopped while handling it; queued again", pk)
            requeued += 1
    return requeued


def sweep_stalled_replies(now: datetime | None = None) -> SweepResult:
    """Put back to work every reply that has waited far longer than it should.

    A worker killed mid-task leaves its task "running" forever and its reply "sending"; a
    queue outside the database can lose a task between commit and enqueue. The Message rows
    are the truth, so they are what we sweep.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.REPLY_STALLED_AFTER)
    result = SweepResult()

    stalled_queued = Message.objects.filter(
        status=Message.Status.QUEUED, next_attempt_at__lt=cutoff
    )
    for pk in stalled_queued.values_list("pk", flat=True)[:SWEEP_BATCH]:
        with transaction.atomic():
            if stalled_queued.filter(pk=pk).update(next_attempt_at=now):
                enqueue_send(pk)
                result.requeued += 1

    stalled_sending = Message.objects.filter(
        status=Message.Status.SENDING, sending_started_at__lt=cutoff
    ).select_related("conversation")
    for message in stalled_sending[:SWEEP_BATCH]:
        if message.mid:
            finish_sent(message, message.mid)
            result.confirmed += 1
            continue
        # We cannot know whether Meta got it (see README, "The one duplicate window").
        # Sending again risks a duplicate; not sending risks silence. We send again.
        logger.warning("Reply %s: its worker stopped during the send; trying again", message.pk)
        retry_or_fail(message, "the worker stopped during the send")
        result.resent += 1

    waiting = Message.objects.filter(
        status=Message.Status.QUEUED, next_attempt_at__isnull=True, created_at__lt=cutoff
    )
    for message in waiting[:SWEEP_BATCH]:
        previous = message.previous_part()
        if previous.status == Message.Status.SENT:
            with transaction.atomic():
                if message.release(now):
                    enqueue_send(message.pk)
                    result.released += 1
        elif previous.status == Message.Status.FAILED:
            fail_later_parts(previous)
    if result != SweepResult():
        logger.info("Sweep: %s", result)
    return result


def sweep_deliveries_waiting_for_credentials(now: datetime | None = None) -> int:
    """Queue again the deliveries that waited for stored credentials no FIELD_ENCRYPTION_KEY
    key opened: all of them once every stored credential opens (the key fixed, or the
    credentials entered again), and else those that waited REPLY_STALLED_AFTER (another
    account's credentials may be what still does not open). Handling is idempotent: events
    already stored are not stored twice. Returns how many."""
    now = now or timezone.now()
    waiting = WebhookDelivery.objects.filter(state=WebhookDelivery.State.WAITING_FOR_CREDENTIALS)
    if not waiting.exists():
        return 0
    if unreadable_credentials():
        # processed_at: when a worker last found it waiting.
        cutoff = now - timedelta(seconds=settings.REPLY_STALLED_AFTER)
        waiting = waiting.filter(processed_at__lt=cutoff)
    # Conditional on the state: a sweep racing another changes each row once.
    requeued = waiting.update(state=WebhookDelivery.State.RECEIVED, handling_since=timezone.now())
    if requeued:
        logger.info("%d deliveries that waited for credentials are queued again", requeued)
    return requeued
