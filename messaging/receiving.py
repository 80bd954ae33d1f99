"""A delivery's way from the webhook to its events: stored raw in the request, then taken by a
worker, read, matched to the app secret that signed it, and each event handled for its account.

accept_delivery          in the request: store the verified delivery (one insert); that row is
                         its place in the workers' queue.
take_waiting_deliveries  in the worker: claim the oldest waiting deliveries together (one
                         UPDATE), handle them and send the replies they called for.
handle_batch             handle deliveries' events: their customers' messages stored and
                         answered together (messaging.batch), each conversation's in order,
                         every other event in a transaction of its own.
handle_delivery          the same for one delivery; also what `reprocess_webhooks` runs.
"""

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from accounts.encryption import EncryptionKeyError
from accounts.models import InstagramBusinessAccount
from accounts.services import Route, route, service_app_secrets
from messaging import batch, events, hooks
from messaging.models import Message, WebhookDelivery
from messaging.payloads import Delivery, MalformedEvent, PayloadError, parse_delivery
from messaging.sending import send_replies
from messaging.worker_identity import this_worker
from meta import signatures

logger = logging.getLogger(__name__)

# The database is down, locked past the busy timeout, or the connection broke: what we were
# writing is not stored, so it must be handled again later.
STORAGE_ERRORS = (OperationalError, InterfaceError)

# How many waiting deliveries a worker takes in one go: it claims them together and handles
# them as a batch (messaging.batching); it checks for a shutdown between batches, and other
# workers take the rest.
DELIVERY_BATCH = 20
# Reads of the waiting deliveries a pass makes when other workers claimed all it read first.
CLAIM_TRIES = 3


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
    # As stored, with their conversations and accounts (in_hand), for the sender.
    replies: list[Message] = field(default_factory=list)


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
    this worker handled (0: none is waiting).

    It claims them together (one conditional UPDATE; of workers racing for a delivery one
    wins), handles them together (handle_batch), then sends their replies. One delivery
    waiting goes through at once: nothing waits for a batch to fill."""
    for _ in range(CLAIM_TRIES):
        waiting = WebhookDelivery.waiting(limit)
        if not waiting:
            return 0
        # Another worker may have claimed them since: then the next ones, if any wait.
        if held := WebhookDelivery.claim_all(waiting, by=this_worker()):
            break
    else:
        return 0
    _handle_and_send(held)
    return len(held)


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
    _handle_and_send([read if read is not None else WebhookDelivery.objects.get(pk=delivery_id)])
    return True


def _handle_and_send(deliveries: list[WebhookDelivery]) -> None:
    outcomes = handle_batch(deliveries)
    for delivery, outcome in zip(deliveries, outcomes, strict=True):
        if not outcome.stored:
            _retry_later(delivery)
    _send([reply for outcome in outcomes for reply in outcome.replies])


def _retry_later(delivery: WebhookDelivery) -> None:
    # The database failed us midway (the stored events stay stored). Meta will not send it
    # again, so we will: back in the queue, not before REPLY_STALLED_AFTER, so that a database
    # that is down or locked has time to recover and no worker spins on it.
    delivery.schedule_retry(timezone.now() + timedelta(seconds=settings.REPLY_STALLED_AFTER))


def _send(replies: list[Message]) -> None:
    """Hand the replies this worker stored (and holds) to the outbox's sender, together, in
    the order they were queued (sending.send_replies: rounds side by side, each customer's in
    order), as they are in hand: the sender does not read them again. Each is recorded as
    soon as Meta answers it, so a worker killed meanwhile leaves in doubt only the calls
    under way; the replies of later rounds stay held, for the live workers to take back."""
    if not replies:
        return
    try:
        send_replies(replies)
    except DatabaseError:
        # Their rows say queued or sending: the sweep puts them back to work later.
        ids = [reply.pk for reply in replies]
        logger.exception("Replies %s: could not be sent now; the sweep retries them", ids)


def _in_hand(reply: Message, account: InstagramBusinessAccount | None) -> Message:
    """The reply, its conversation's account set to the one its DM was routed to (read at
    most ACCOUNTS_FRESH_FOR ago, no statement) when it is that one: the sender then reads
    none of them again."""
    conversation = reply.conversation
    if account is not None and conversation.account_id == account.pk:
        conversation.account = account
    return reply


def handle_delivery(delivery: WebhookDelivery) -> DeliveryOutcome:
    """Read a stored delivery, find which of our app secrets signed it, and handle its events
    (handle_batch). Idempotent: handled again, it changes nothing."""
    return handle_batch([delivery])[0]


def _read(delivery: WebhookDelivery) -> tuple[Delivery, str] | DeliveryOutcome:
    """The delivery's payload and the secret that signed it; or, for one that cannot be
    handled (unreadable, unsigned, credentials that cannot be opened), its outcome, the
    delivery finished with it."""
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
    if payload.object != "instagram":
        logger.info("Delivery %s is for object %r: ignored", delivery.pk, payload.object)
    for part in payload.ignored:
        logger.info("Delivery %s: %s is not handled; kept in the raw log", delivery.pk, part)
    return payload, secret


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


def _route(
    delivery: WebhookDelivery,
    event,
    verified_with: str,
    routes: dict[str, Route],
    outcome: DeliveryOutcome,
) -> Route | None:
    """Where the event goes (its account), or None: malformed, or its entry skipped. An entry
    goes to its account only if `verified_with` is that account's own secret
    (accounts.services.route); `routes` remembers each account's for the delivery."""
    if isinstance(event, MalformedEvent):
        problem = f"skipped a malformed event: {event.reason}"
        logger.warning("Delivery %s (account %s): %s", delivery.pk, event.account_id, problem)
        outcome.problems.append(problem)
        return None
    try:
        if event.account_id not in routes:
            routes[event.account_id] = route(event.account_id, verified_with)
            if skip := routes[event.account_id].skip_reason:
                logger.warning("Delivery %s: events skipped, kept raw: %s", delivery.pk, skip)
                outcome.problems.append(f"events skipped: {skip}")
    except EncryptionKeyError as exc:
        # Its account's app secret cannot be opened: these events wait, the others go on.
        _waits_for_credentials(delivery, outcome, exc)
        return None
    return None if routes[event.account_id].skip_reason else routes[event.account_id]


def _handle_event(delivery: WebhookDelivery, event, account, outcome: DeliveryOutcome) -> None:
    """One event in a transaction of its own; what went wrong is noted in `outcome`. One bad
    event never takes the others down."""
    try:
        reply = events.handle_in_transaction(event, account)
        if reply is not None:
            outcome.replies.append(_in_hand(reply, account))
    except EncryptionKeyError as exc:
        _waits_for_credentials(delivery, outcome, exc)
    except STORAGE_ERRORS as exc:
        logger.error("Delivery %s: could not store its events: %s", delivery.pk, exc)
        outcome.stored = False
        outcome.problems.append(f"could not store events: {exc}")
    except Exception as exc:
        logger.exception("Delivery %s: handling %s failed", delivery.pk, events.describe(event))
        outcome.failed_events += 1
        outcome.problems.append(f"handling {events.describe(event)} failed: {exc!r}")


def _waits_for_credentials(
    delivery: WebhookDelivery, outcome: DeliveryOutcome, exc: EncryptionKeyError
) -> None:
    problem = f"waiting for credentials: {exc}"
    if not outcome.waiting_for_credentials:
        logger.error("CREDENTIALS PROBLEM: delivery %s: %s", delivery.pk, problem)
        outcome.problems.append(problem)
    outcome.waiting_for_credentials = True


def handle_batch(deliveries: list[WebhookDelivery]) -> list[DeliveryOutcome]:
    """Handle deliveries this worker claimed together; returns each one's outcome.

    Their events go in rounds: round n holds each conversation's n-th event of the batch, so a
    conversation's events keep their order, and a round never holds two of one conversation.
    In a round the customers' messages are stored and answered together (messaging.batch, one
    transaction), every other event in its own transaction as handle_delivery does. A round
    whose messages raise together is handled one event at a time: a bad event fails alone."""
    outcomes = [DeliveryOutcome() for _ in deliveries]
    finished = set()
    rounds: dict[int, list] = defaultdict(list)
    count: dict[tuple, int] = defaultdict(int)
    for index, delivery in enumerate(deliveries):
        read = _read(delivery)
        if isinstance(read, DeliveryOutcome):
            outcomes[index] = read
            finished.add(index)
            continue
        payload, secret = read
        for event in payload.events:
            key = _conversation_of(event)
            rounds[count[key]].append((index, event, secret))
            count[key] += 1
    routes: list[dict[str, Route]] = [{} for _ in deliveries]
    for number in sorted(rounds):
        _handle_round(deliveries, outcomes, routes, rounds[number])
    _record_outcomes(
        [(deliveries[i], outcome) for i, outcome in enumerate(outcomes) if i not in finished]
    )
    return outcomes


def _conversation_of(event) -> tuple:
    """What orders an event: its conversation (a feature's events, their account's order)."""
    if isinstance(event, MalformedEvent):
        return ("malformed", id(event))
    return getattr(event, "account_id", ""), getattr(event, "customer_id", None)


def _handle_round(
    deliveries: list[WebhookDelivery],
    outcomes: list[DeliveryOutcome],
    routes: list[dict[str, Route]],
    events_of_round: list[tuple[int, object, str]],
) -> None:
    together: list[tuple[int, batch.Arrival]] = []
    for index, event, secret in events_of_round:
        delivery, outcome = deliveries[index], outcomes[index]
        if not outcome.stored:
            continue  # the database failed its delivery: handled again later, in full
        target = _route(delivery, event, secret, routes[index], outcome)
        if target is None:
            continue
        if events.is_customer_message(event) and hooks.event_handler(event) is None:
            together.append((index, batch.Arrival(event, target.account)))
        else:
            _handle_event(delivery, event, target.account, outcome)
    if len(together) > 1 and connection.features.can_return_rows_from_bulk_insert:
        try:
            with transaction.atomic():
                queued = batch.handle_customer_messages([arrival for _, arrival in together])
        except (DatabaseError, EncryptionKeyError) as exc:
            # Another worker created one of the conversations meanwhile, a deadlock, an
            # account's credentials … : each event's own handling says what it is.
            logger.info("%d messages together: %r; handled one at a time", len(together), exc)
        except Exception:
            logger.exception("%d messages together failed; handled one at a time", len(together))
        else:
            for (index, arrival), reply in zip(together, queued, strict=True):
                if reply is not None:
                    outcomes[index].replies.append(_in_hand(reply, arrival.account))
            return
    for index, arrival in together:
        _handle_event(deliveries[index], arrival.event, arrival.account, outcomes[index])


def _record_outcomes(handled: list[tuple[WebhookDelivery, DeliveryOutcome]]) -> None:
    """Every delivery that went through cleanly finished in one UPDATE; the others each with
    what went wrong."""
    clean = [
        delivery
        for delivery, outcome in handled
        if outcome.stored and not (outcome.problems or outcome.failed_events)
    ]
    try:
        WebhookDelivery.finish_all(clean, WebhookDelivery.State.PROCESSED)
    except STORAGE_ERRORS as exc:
        logger.error("Deliveries %s: could not record their outcome: %s", clean, exc)
        for delivery, outcome in handled:
            if delivery in clean:
                outcome.stored = False
    for delivery, outcome in handled:
        if delivery not in clean:
            _record_outcome(delivery, outcome)


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
