"""Work a killed worker or a lost task left behind, put back to work.

recover_work_of_dead_workers  at once: the work claimed by a worker whose heartbeat stopped
                              (every live worker's heartbeat thread runs it after each beat).
sweep_stalled_deliveries,     the backstop, by age (REPLY_STALLED_AFTER): whatever nothing else
sweep_stalled_replies         recovered, such as a task a queue outside the database lost, or
                              the claim of a process that has no heartbeat (`worker --once`).

Every change is a conditional UPDATE, so a recovery racing a worker (or another recovery)
changes nothing twice.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from messaging.models import Message, WebhookDelivery, WorkerHeartbeat
from messaging.sending import enqueue_send, fail_later_parts, finish_sent, retry_or_fail
from messaging.worker_identity import this_worker

logger = logging.getLogger(__name__)

# At most this many rows of each kind per sweep: a huge backlog is swept over several passes.
SWEEP_BATCH = 1000


@dataclass
class SweepResult:
    requeued: int = 0  # queued replies whose task went missing, queued again
    resent: int = 0  # replies whose worker died mid-send, put back for another attempt
    confirmed: int = 0  # replies whose worker died mid-send, but whose echo proved delivery
    released: int = 0  # later parts of split replies whose release was lost
    deliveries: int = 0  # deliveries whose worker died while handling them, queued again
    handed_over: int = 0  # replies a dead worker held to send itself, queued


def recover_work_of_dead_workers(now: datetime | None = None) -> SweepResult:
    """Take back, at once, the work of every worker whose heartbeat stopped WORKER_DEAD_AFTER
    ago: its deliveries go back in the queue, its replies in flight go out again (or count
    as sent, when their echo came), the replies it held to send itself are queued; then its
    heartbeat row goes. Cheap when no worker died: one query on a table of a row per worker.
    """
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.WORKER_DEAD_AFTER)
    result = SweepResult()
    for worker in WorkerHeartbeat.silent_since(cutoff):
        recovered = _take_back_work_of(worker)
        WorkerHeartbeat.forget(worker, silent_since=cutoff)
        logger.warning("Worker %s stopped beating: its work was taken back (%s)", worker, recovered)
        for name in ("deliveries", "resent", "confirmed", "handed_over"):
            setattr(result, name, getattr(result, name) + getattr(recovered, name))
    return result


def _take_back_work_of(worker: str) -> SweepResult:
    result = SweepResult()
    handling = WebhookDelivery.objects.filter(
        state=WebhookDelivery.State.PROCESSING, claimed_by=worker
    )
    for pk in handling.values_list("pk", flat=True)[:SWEEP_BATCH]:
        # Handling is idempotent: what the dead worker stored of it is not stored twice.
        if WebhookDelivery.take_back(pk, from_worker=worker):
            logger.warning("Delivery %s: its worker died while handling it; queued again", pk)
            result.deliveries += 1

    sending = Message.objects.filter(status=Message.Status.SENDING, claimed_by=worker)
    for pk in sending.values_list("pk", flat=True)[:SWEEP_BATCH]:
        if Message.take_over_send(pk, this_worker(), from_worker=worker):
            _finish_abandoned_send(pk, result)

    held = Message.objects.filter(status=Message.Status.QUEUED, claimed_by=worker)
    for pk in held.values_list("pk", flat=True)[:SWEEP_BATCH]:
        with transaction.atomic():
            if Message.hand_to_queue(pk, from_worker=worker):
                enqueue_send(pk)
                result.handed_over += 1
    return result


def _finish_abandoned_send(pk: int, result: SweepResult) -> None:
    """A reply whose worker died mid-send, now claimed by this worker: the stalled-send
    sweep and the dead-worker recovery both end here."""
    message = Message.objects.select_related("conversation").get(pk=pk)
    if message.mid:
        # Its echo came meanwhile (matched to it): Meta has it, nothing goes out again.
        finish_sent(message, message.mid)
        result.confirmed += 1
        return
    # We cannot know whether Meta got it (see docs/recovery.md, "The duplicate window").
    # Sending again risks a duplicate; not sending risks silence. We send again.
    logger.warning("Reply %s: its worker stopped during the send; trying again", pk)
    reason = "the worker stopped during the send"
    if message.attempts >= settings.SEND_MAX_ATTEMPTS:
        retry_or_fail(message, reason)  # gives up, as after any last attempt
        return
    with transaction.atomic():
        # Now, and straight onto the queue: the worker died, Meta did not fail (no backoff),
        # and on Redis a deferred task waits for RQ's scheduler, whose lock a killed worker
        # holds for a minute.
        if message.schedule_retry(reason, timezone.now()):
            enqueue_send(pk)
            result.resent += 1


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
        if WebhookDelivery.take_back(pk, claimed_before=cutoff):
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
    )
    for pk in stalled_sending.values_list("pk", flat=True)[:SWEEP_BATCH]:
        if Message.take_over_send(pk, this_worker(), started_before=cutoff):
            _finish_abandoned_send(pk, result)

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
