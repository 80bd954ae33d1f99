"""Work a killed worker left behind, put back to work.

recover_work_of_dead_workers  at once: the work claimed by a worker whose heartbeat stopped
                              (every live worker's heartbeat thread runs it after each beat).
sweep_stalled_deliveries,     the backstop, by age (REPLY_STALLED_AFTER): whatever nothing else
sweep_stalled_sends           recovered, such as the claim of a process that has no heartbeat
                              (`worker --once`); sends of every kind of the outbox.

Every change is a conditional UPDATE, so a recovery racing a worker (or another recovery)
changes nothing twice.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from messaging import outbox
from messaging.models import Message, OutboxStatus, WebhookDelivery, WorkerHeartbeat
from messaging.outbox.kinds import OutboxKind
from messaging.outbox.outcomes import record, retry_or_fail
from messaging.sending import fail_later_parts
from messaging.worker_identity import this_worker

logger = logging.getLogger(__name__)

# At most this many rows of each kind per sweep: a huge backlog is swept over several passes.
SWEEP_BATCH = 1000


@dataclass
class SweepResult:
    requeued: int = 0  # queued sends a live worker held too long, let go to the sender's poll
    resent: int = 0  # sends whose worker died mid-send, put back for another attempt
    confirmed: int = 0  # sends whose worker died mid-send, but whose echo proved delivery
    given_up: int = 0  # sends whose worker died mid-send, not tried again (public replies)
    released: int = 0  # later parts of split replies whose release was lost
    deliveries: int = 0  # deliveries whose worker died while handling them, queued again
    handed_over: int = 0  # sends a dead worker held to send itself, let go


def recover_work_of_dead_workers(now: datetime | None = None) -> SweepResult:
    """Take back, at once, the work of every worker whose heartbeat stopped WORKER_DEAD_AFTER
    ago: its deliveries go back in the queue, its sends in flight go out again (or count as
    sent, when their echo came), the sends it held to send itself go to the sender's poll;
    then its heartbeat row goes. Cheap when no worker died: one query on a table of a row per
    worker.
    """
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.WORKER_DEAD_AFTER)
    result = SweepResult()
    for worker in WorkerHeartbeat.silent_since(cutoff):
        recovered = _take_back_work_of(worker)
        WorkerHeartbeat.forget(worker, silent_since=cutoff)
        logger.warning("Worker %s stopped beating: its work was taken back (%s)", worker, recovered)
        for name in ("deliveries", "resent", "confirmed", "given_up", "handed_over"):
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

    for kind in outbox.registered():
        sending = kind.rows().filter(status=OutboxStatus.SENDING, claimed_by=worker)
        for pk in sending.values_list("pk", flat=True)[:SWEEP_BATCH]:
            if kind.model.take_over(pk, this_worker(), from_worker=worker):
                _finish_abandoned_send(kind, pk, result)
        held = kind.rows().filter(status=OutboxStatus.QUEUED, claimed_by=worker)
        for pk in held.values_list("pk", flat=True)[:SWEEP_BATCH]:
            if kind.model.let_go(pk, from_worker=worker):
                result.handed_over += 1
    return result


def _finish_abandoned_send(kind: OutboxKind, pk: int, result: SweepResult) -> None:
    """A send whose worker died mid-send, now claimed by this worker: the stalled-send sweep
    and the dead-worker recovery both end here."""
    row = kind.load(pk)
    if outcome := kind.after_stall(row):
        record(kind, row, outcome)
        if row.status == OutboxStatus.SENT:
            result.confirmed += 1
        else:
            logger.warning(
                "%s: its worker stopped during the send: %s", kind.describe(row), row.last_error
            )
            result.given_up += 1
        return
    logger.warning("%s: its worker stopped during the send; trying again", kind.describe(row))
    reason = "the worker stopped during the send"
    if row.attempts >= settings.SEND_MAX_ATTEMPTS:
        retry_or_fail(kind, row, reason)  # gives up, as after any last attempt
        return
    # Now: the worker died, Meta did not fail (no backoff).
    if row.retry_at(timezone.now(), reason):
        kind.changed(row)
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


def sweep_stalled_sends(now: datetime | None = None) -> SweepResult:
    """Put back to work every send, of every kind, that has waited far longer than it should:
    claimed (sending) longer than REPLY_STALLED_AFTER ago by a process with no heartbeat, or
    held to be sent at once by a worker that never did (the database failed it meanwhile).
    (What waited for credentials is messaging.credentials_wait's.)"""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.REPLY_STALLED_AFTER)
    result = SweepResult()
    for kind in outbox.registered():
        held = (
            kind.rows().filter(status=OutboxStatus.QUEUED, due_at__lt=cutoff).exclude(claimed_by="")
        )
        for pk, worker in held.values_list("pk", "claimed_by")[:SWEEP_BATCH]:
            if kind.model.let_go(pk, from_worker=worker):
                result.requeued += 1
        stalled = kind.rows().filter(status=OutboxStatus.SENDING, claimed_at__lt=cutoff)
        for pk in stalled.values_list("pk", flat=True)[:SWEEP_BATCH]:
            if kind.model.take_over(pk, this_worker(), claimed_before=cutoff):
                _finish_abandoned_send(kind, pk, result)
    _release_lost_parts(now, cutoff, result)
    if result != SweepResult():
        logger.info("Sweep: %s", result)
    return result


def _release_lost_parts(now: datetime, cutoff: datetime, result: SweepResult) -> None:
    waiting = Message.objects.filter(
        status=OutboxStatus.QUEUED, due_at__isnull=True, created_at__lt=cutoff
    )
    for message in waiting[:SWEEP_BATCH]:
        previous = message.previous_part()
        if previous.status == OutboxStatus.SENT:
            if message.release(now):
                result.released += 1
        elif previous.status == OutboxStatus.FAILED:
            fail_later_parts(previous)
