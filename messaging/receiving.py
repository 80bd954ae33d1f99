"""A delivery's way from the webhook to its events: stored raw in the request, then taken by a
worker, read, matched to the app secret that signed it, and each event handled for its account.

accept_delivery          in the request: store the verified delivery (one insert); that row is
                         its place in the workers' queue.
take_waiting_deliveries  in the worker: take the oldest waiting deliveries, one at a time
                         (take_delivery: claim it, handle it, send the replies it called for).
handle_delivery          handle a stored delivery's events; also what `reprocess_webhooks` runs.
"""

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError
from django.utils import timezone

from accounts.encryption import EncryptionKeyError
from accounts.models import InstagramBusinessAccount
from accounts.services import Route, route, service_app_secrets
from messaging import events
from messaging.models import WebhookDelivery
from messaging.payloads import Delivery, MalformedEvent, PayloadError, parse_delivery
from messaging.sending import send_reply
from messaging.worker_identity import this_worker
from meta import signatures

logger = logging.getLogger(__name__)

# The database is down, locked past the busy timeout, or the connection broke: what we were
# writing is not stored, so it must be handled again later.
STORAGE_ERRORS = (OperationalError, InterfaceError)

# How many waiting deliveries a worker looks at in one go: it checks for a shutdown between
# batches, and other workers take the rest.
DELIVERY_BATCH = 20


@dataclass
class DeliveryOutcome:
    stored: bool = True  # False: the database failed us; the delivery is handled again later
    failed_events: int = 0  # events whose handling raised: re-processing may help later
    problems: list[str] = field(default_factory=list)
    unreadable: bool = False  # not a payload we can read (rejected)
    unsigned: bool = False  # signed with none of the app secrets we hold now
    # An account's stored credentials could not be opened: handled again once they can be.
    waiting_for_credentials: bool = False
    # Bot replies stored (committed, queued) by this handling, no send task queued for them:
    # the caller sends them (the worker, at once) or queues their sends (an operator's rerun).
    replies: list[int] = field(default_factory=list)


def accept_delivery(body: bytes, headers) -> None:
    """In the request: store a delivery whose signature checked. Raises DatabaseError when it
    could not be stored.

    One insert, and no task: the stored row, waiting, is the work item, and the workers take
    it from its table. Meta waits for our answer, and a task row per delivery cost the
    webhook more than half of its time.
    """
    WebhookDelivery.record(body, headers)


def take_waiting_deliveries(limit: int = DELIVERY_BATCH) -> int:
    """In the worker: handle the oldest waiting deliveries, up to `limit`; return how many
    this worker handled (0: none is waiting). Workers racing for one delivery each try to
    claim it, and one wins."""
    return sum(
        take_delivery(delivery.pk, read=delivery) for delivery in WebhookDelivery.waiting(limit)
    )


def take_delivery(delivery_id: int, read: WebhookDelivery | None = None) -> bool:
    """In the worker: claim a delivery the webhook accepted, handle it, and send its replies.
    Returns False when there was nothing to claim: another worker holds it, or held it.

    The replies go out from here rather than through a task each: one queue hop less per DM.
    Each reply is stored (queued) before its send, held by this worker (claimed_by): should it
    die in between, the live workers queue it once its heartbeat stops
    (recovery.recover_work_of_dead_workers).

    `read`: the delivery as read before the claim (its body and headers never change), so
    that the claim is the only statement before its handling.
    """
    if not WebhookDelivery.claim(delivery_id, by=this_worker()):
        return False
    delivery = read if read is not None else WebhookDelivery.objects.get(pk=delivery_id)
    outcome = handle_delivery(delivery)
    if not outcome.stored:
        # The database failed us midway (the stored events stay stored). Meta will not send
        # it again, so we will: back in the queue, not before REPLY_STALLED_AFTER, so that a
        # database that is down or locked has time to recover and no worker spins on it.
        delivery.schedule_retry(timezone.now() + timedelta(seconds=settings.REPLY_STALLED_AFTER))
    for reply_id in outcome.replies:
        try:
            send_reply(reply_id)
        except DatabaseError:
            # Its row says queued or sending: the sweep puts it back to work later.
            logger.exception("Reply %s: could not be sent now; the sweep retries it", reply_id)
    return True


def handle_delivery(delivery: WebhookDelivery) -> DeliveryOutcome:
    """Read a stored delivery, find which of our app secrets signed it, and handle its events
    (each in its own transaction). Idempotent: handled again, it changes nothing."""
    try:
        payload = parse_delivery(bytes(delivery.body))
    except PayloadError as exc:
        logger.warning("Delivery %s rejected: %s", delivery.pk, exc)
        delivery.finish(WebhookDelivery.State.REJECTED, str(exc))
        return DeliveryOutcome(unreadable=True, problems=[str(exc)])
    try:
        secret = _secret_that_signed(delivery, payload)
    except EncryptionKeyError as exc:
        problem = f"waiting for credentials: {exc}"
        logger.error("CREDENTIALS PROBLEM: delivery %s: %s", delivery.pk, problem)
        delivery.finish(WebhookDelivery.State.WAITING_FOR_CREDENTIALS, problem)
        return DeliveryOutcome(waiting_for_credentials=True, problems=[problem])
    if secret is None:
        # Signed with a secret we no longer hold (rotated since): we cannot tell whose it is.
        problem = "signed with none of the app secrets held now"
        logger.warning("Delivery %s not handled: %s", delivery.pk, problem)
        delivery.finish(WebhookDelivery.State.FAILED, problem)
        return DeliveryOutcome(unsigned=True, problems=[problem])
    outcome = _handle_events(delivery, payload, verified_with=secret)
    _record_outcome(delivery, outcome)
    return outcome


def _secret_that_signed(delivery: WebhookDelivery, payload: Delivery) -> str | None:
    body, header = bytes(delivery.body), delivery.headers.get(signatures.SIGNATURE_HEADER)
    # Most deliveries are signed with the global app secret: no query for those.
    if secret := signatures.secret_that_signed(body, header, service_app_secrets()):
        return secret
    # Else only the secrets of the delivery's own accounts can route its entries (route()).
    account_ids = {event.account_id for event in payload.events}
    accounts = InstagramBusinessAccount.objects.filter(instagram_id__in=account_ids)
    return signatures.secret_that_signed(
        body, header, [a.app_secret for a in accounts if a.app_secret]
    )


def _handle_events(
    delivery: WebhookDelivery, payload: Delivery, verified_with: str
) -> DeliveryOutcome:
    """Each entry goes to its account only if `verified_with` is that account's own secret
    (accounts.services.route). One bad event never takes the others down."""
    outcome = DeliveryOutcome()
    routes: dict[str, Route] = {}
    if payload.object != "instagram":
        logger.info("Delivery %s is for object %r: ignored", delivery.pk, payload.object)
    for part in payload.ignored:
        logger.info("Delivery %s: %s is not handled; kept in the raw log", delivery.pk, part)

    for event in payload.events:
        if isinstance(event, MalformedEvent):
            problem = f"skipped a malformed event: {event.reason}"
            logger.warning("Delivery %s (account %s): %s", delivery.pk, event.account_id, problem)
            outcome.problems.append(problem)
            continue
        try:
            if event.account_id not in routes:
                routes[event.account_id] = route(event.account_id, verified_with)
                if skip := routes[event.account_id].skip_reason:
                    logger.warning("Delivery %s: events skipped, kept raw: %s", delivery.pk, skip)
                    outcome.problems.append(f"events skipped: {skip}")
            if routes[event.account_id].skip_reason:
                continue
            reply = events.handle_in_transaction(event, routes[event.account_id].account)
            if reply is not None:
                outcome.replies.append(reply.pk)
        except EncryptionKeyError as exc:
            # Its account's app secret cannot be opened: these events wait, the others go on.
            problem = f"waiting for credentials: {exc}"
            if not outcome.waiting_for_credentials:
                logger.error("CREDENTIALS PROBLEM: delivery %s: %s", delivery.pk, problem)
                outcome.problems.append(problem)
            outcome.waiting_for_credentials = True
        except STORAGE_ERRORS as exc:
            logger.error("Delivery %s: could not store its events: %s", delivery.pk, exc)
            outcome.stored = False
            outcome.problems.append(f"could not store events: {exc}")
            break
        except Exception as exc:
            logger.exception("Delivery %s: handling %s failed", delivery.pk, events.describe(event))
            outcome.failed_events += 1
            outcome.problems.append(f"handling {events.describe(event)} failed: {exc!r}")
    return outcome


def _record_outcome(delivery: WebhookDelivery, outcome: DeliveryOutcome) -> None:
    if not outcome.stored:
        state = WebhookDelivery.State.FAILED
    elif outcome.waiting_for_credentials:
        # Handled again in full once the credentials open: what is stored is not stored twice.
        state = WebhookDelivery.State.WAITING_FOR_CREDENTIALS
    elif outcome.failed_events:
        state = WebhookDelivery.State.FAILED
    else:
        state = WebhookDelivery.State.PROCESSED
    try:
        delivery.finish(state, "\n".join(outcome.problems))
    except STORAGE_ERRORS as exc:
        logger.error("Delivery %s: could not record its outcome: %s", delivery.pk, exc)
        outcome.stored = False
    except DatabaseError:
        # The events are stored; only the note about them was refused (odd text in it, say).
        logger.exception("Delivery %s: could not record its outcome", delivery.pk)
