"""
The messaging workflows: what happens to a delivery, and how a reply gets sent.

accept_delivery        in the request: store a verified delivery raw; that row is its place in
                       the workers' queue (one insert while Meta waits).
process_waiting_deliveries  in the worker: take the waiting deliveries, oldest first, and
                       process_received_delivery each: handle it once (handle_delivery: store
                       every event and the replies they call for), then send those replies at
                       once (send_reply).
send_staff_reply       in the inbox: queue a staff member's reply; the bot steps back.
send_reply             in the worker: send one queued message through the Graph API.
sweep_stalled_replies  in the worker, periodically: recover replies whose task was lost or
                       whose worker died mid-send; sweep_stalled_deliveries, the same for
                       deliveries.
"""

import logging
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import (
    DatabaseError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    transaction,
)
from django.utils import timezone

from accounts.models import InstagramBusinessAccount
from accounts.services import Route, route
from instabot.logging import log_context
from messaging import graph, signatures
from messaging.models import SENT_BY_US, Conversation, Message, SendThrottle, WebhookDelivery
from messaging.payloads import (
    Delivery,
    Event,
    MalformedEvent,
    MessageDeleted,
    MessageEdit,
    MessageEvent,
    PayloadError,
    Postback,
    Reaction,
    Read,
    ReferralEvent,
    UnknownEvent,
    parse_delivery,
)
from messaging.tasks import enqueue_send
from rules.matching import Reply, choose_reply, fallback_text

logger = logging.getLogger(__name__)

# Instagram lets a business answer for 24 hours after the customer's last message.
MESSAGING_WINDOW = timedelta(hours=24)

# The database is down, locked past the busy timeout, or the connection broke: what we were
# writing is not stored, so Meta must deliver it again.
STORAGE_ERRORS = (OperationalError, InterfaceError)

TAKEN_OVER = "not sent: staff took the conversation over"

# Concurrent deliveries can deadlock on MySQL/MariaDB and PostgreSQL (InnoDB's locks on a unique
# key that several transactions insert at once, for one). The database rolled our transaction
# back; running it again is the remedy both document.
DEADLOCK_ATTEMPTS = 3


@dataclass
class DeliveryOutcome:
    stored: bool = True  # False: the database failed us; the delivery is handled again later
    failed_events: int = 0  # events whose handling raised: re-processing may help later
    problems: list[str] = field(default_factory=list)
    unreadable: bool = False  # not a payload we can read (rejected)
    unsigned: bool = False  # signed with none of the app secrets we hold now
    # Bot replies stored (committed, queued) by this handling, no send task queued for them:
    # the caller sends them (the worker, at once) or queues their sends (an operator's rerun).
    replies: list[int] = field(default_factory=list)


# --- receiving ------------------------------------------------------------------------------


def accept_delivery(body: bytes, headers) -> None:
    """In the request: store a delivery whose signature checked. Raises DatabaseError when it
    could not be stored.

    One insert, and no task: the stored row, waiting, is the work item, and the workers take
    it from its table (process_waiting_deliveries). Meta waits for our answer, and a second
    row (a task) per delivery cost the webhook more than half of its time.
    """
    # One statement, atomic on its own: no transaction around it, whose BEGIN and COMMIT
    # cost more than the insert. On SQLite it still takes its turn to write (instabot/sqlite).
    WebhookDelivery.store_received(body, headers)


# How many waiting deliveries a worker looks at in one go: it checks for a shutdown between
# batches, and other workers take the rest.
DELIVERY_BATCH = 20


def process_waiting_deliveries(limit: int = DELIVERY_BATCH) -> int:
    """In the worker: handle the oldest waiting deliveries, up to `limit`; return how many
    this worker handled (0: none is waiting). Workers racing for one delivery each try to
    claim it, and one wins."""
    handled = 0
    for delivery_id in WebhookDelivery.waiting_ids(limit):
        handled += process_received_delivery(delivery_id)
    return handled


def process_received_delivery(delivery_id: int) -> bool:
    """In the worker: handle a delivery the webhook accepted, once, and send its replies.
    Returns False when there was nothing to claim: another worker holds it, or held it.

    The replies go out from here rather than through a task each: one queue hop and one
    task's bookkeeping less per DM. Each reply is stored (queued) before its send, so a worker
    killed in between leaves it to the sweep, as a lost task would.
    """
    if not WebhookDelivery.claim(delivery_id):
        return False
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    outcome = process_delivery(delivery)
    if not outcome.stored:
        # The database failed us midway (the stored events stay stored). Meta will not send
        # it again, so we will: back in the queue, not before REPLY_STALLED_AFTER, so that a
        # database that is down or locked has time to recover and no worker spins on it.
        delivery.release(retry_at=timezone.now() + timedelta(seconds=settings.REPLY_STALLED_AFTER))
    for reply_id in outcome.replies:
        try:
            send_reply(reply_id)
        except DatabaseError:
            # Its row says queued or sending: the sweep puts it back to work later.
            logger.exception("Reply %s: could not be sent now; the sweep retries it", reply_id)
    return True


def process_delivery(delivery: WebhookDelivery) -> DeliveryOutcome:
    """Handle a stored delivery: read it, find which of our app secrets signed it, handle its
    events. Also what `manage.py reprocess_webhooks` runs, in any state: it is idempotent."""
    body = bytes(delivery.body)
    try:
        payload = parse_delivery(body)
    except PayloadError as exc:
        logger.warning("Delivery %s rejected: %s", delivery.pk, exc)
        delivery.finish(WebhookDelivery.State.REJECTED, str(exc))
        return DeliveryOutcome(unreadable=True, problems=[str(exc)])
    secret = _secret_that_signed(delivery, payload)
    if secret is None:
        # Signed with a secret we no longer hold (rotated since): we cannot tell whose it is.
        problem = "signed with none of the app secrets held now"
        logger.warning("Delivery %s not handled: %s", delivery.pk, problem)
        delivery.finish(WebhookDelivery.State.FAILED, problem)
        return DeliveryOutcome(unsigned=True, problems=[problem])
    return handle_delivery(delivery, payload, verified_with=secret)


def _secret_that_signed(delivery: WebhookDelivery, payload: Delivery) -> str | None:
    body, header = bytes(delivery.body), delivery.headers.get(signatures.SIGNATURE_HEADER)
    # Most deliveries are signed with the global app secret: no query for those.
    if signatures.secret_that_signed(body, header, [settings.FACEBOOK_APP_SECRET]):
        return settings.FACEBOOK_APP_SECRET
    # Else only the secrets of the delivery's own accounts can route its entries (route()).
    account_ids = {event.account_id for event in payload.events}
    accounts = InstagramBusinessAccount.objects.filter(instagram_id__in=account_ids)
    return signatures.secret_that_signed(
        body, header, [a.app_secret for a in accounts if a.app_secret]
    )


def handle_delivery(
    delivery: WebhookDelivery, payload: Delivery, verified_with: str
) -> DeliveryOutcome:
    """Store every event of a verified delivery and queue the replies they call for.

    `verified_with` is the app secret the signature was checked with: each entry goes to its
    account only if that is the account's own secret (accounts.services.route).
    Each event is its own transaction, so one bad event never takes the others down, and a
    stored customer message commits together with its queued reply. The replies are listed
    in the outcome: sending them (or queuing their sends) is the caller's part.
    Handling is idempotent: a redelivered (or re-processed) delivery changes nothing.
    """
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
            reply = _handle_event_in_transaction(event, routes[event.account_id].account)
            if reply is not None:
                outcome.replies.append(reply.pk)
        except STORAGE_ERRORS as exc:
            logger.error("Delivery %s: could not store its events: %s", delivery.pk, exc)
            outcome.stored = False
            outcome.problems.append(f"could not store events: {exc}")
            break
        except Exception as exc:
            logger.exception("Delivery %s: handling %s failed", delivery.pk, _describe(event))
            outcome.failed_events += 1
            outcome.problems.append(f"handling {_describe(event)} failed: {exc!r}")

    failed = not outcome.stored or outcome.failed_events
    state = WebhookDelivery.State.FAILED if failed else WebhookDelivery.State.PROCESSED
    try:
        delivery.finish(state, "\n".join(outcome.problems))
    except STORAGE_ERRORS as exc:
        logger.error("Delivery %s: could not record its outcome: %s", delivery.pk, exc)
        outcome.stored = False
    except DatabaseError:
        # The events are stored; only the note about them was refused (odd text in it, say).
        logger.exception("Delivery %s: could not record its outcome", delivery.pk)
    return outcome


def _handle_event_in_transaction(
    event: Event, account: InstagramBusinessAccount | None
) -> Message | None:
    with log_context(account=event.account_id, mid=getattr(event, "mid", None)):
        return _run_with_deadlock_retries(event, account)


def _run_with_deadlock_retries(
    event: Event, account: InstagramBusinessAccount | None
) -> Message | None:
    for attempt in range(1, DEADLOCK_ATTEMPTS + 1):
        try:
            with transaction.atomic():
                return handle_event(event, account)
        except OperationalError as exc:
            if attempt == DEADLOCK_ATTEMPTS or not _is_deadlock(exc):
                raise
            logger.info(
                "Deadlock handling %s (attempt %d): running it again", _describe(event), attempt
            )
            # A moment of jitter, so the transactions that collided do not collide again.
            time.sleep(random.uniform(0.005, 0.05))


def _is_deadlock(exc: OperationalError) -> bool:
    # PostgreSQL: deadlock_detected, serialization_failure (psycopg's error is the cause).
    if getattr(exc.__cause__, "sqlstate", None) in {"40P01", "40001"}:
        return True
    # MySQL/MariaDB: ER_LOCK_DEADLOCK, the error code being the first argument.
    return bool(exc.args) and exc.args[0] == 1213


def handle_event(event: Event, account: InstagramBusinessAccount | None) -> Message | None:
    """Handle one event for `account` (None: the environment's single account).

    Returns the bot's reply it stored, queued but not yet sent, if any.
    """
    match event:
        case MessageEvent(is_echo=True):
            _record_echo(event, account)
        case MessageEvent():
            return _record_customer_message(
                event,
                account,
                text=event.text,
                attachments=[{"type": a.type, "url": a.url} for a in event.attachments],
                details=_message_details(event),
            )
        case Postback():
            # A button the customer tapped: a message from them, with the button's title.
            return _record_customer_message(
                event,
                account,
                text=event.title,
                attachments=[],
                details={"postback": {"title": event.title, "payload": event.payload}},
            )
        case MessageDeleted():
            # The customer unsent it: keep that it existed, not what it said.
            Message.objects.filter(mid=event.mid).update(is_deleted=True, text="", attachments=[])
        case MessageEdit():
            Message.objects.filter(mid=event.mid, edit_count__lte=event.num_edit).update(
                text=event.text, edit_count=event.num_edit
            )
        case Reaction():
            emoji = (event.emoji or event.reaction) if event.action == "react" else ""
            Message.objects.filter(mid=event.mid).update(reaction=emoji)
        case Read():
            Message.objects.filter(mid=event.mid, read_at__isnull=True).update(
                read_at=event.timestamp
            )
        case ReferralEvent():
            logger.info(
                "Customer %s arrived through a referral (source %s, ref %s)",
                event.customer_id,
                event.referral.source,
                event.referral.ref,
            )
        case UnknownEvent():
            logger.info(
                "Skipped an event of an unknown kind (keys: %s) for account %s",
                ", ".join(event.keys),
                event.account_id,
            )
    return None


def _record_customer_message(
    event: MessageEvent | Postback,
    account: InstagramBusinessAccount | None,
    *,
    text: str,
    attachments: list,
    details: dict,
) -> Message | None:
    # Lock the conversation until this event commits: replies to one customer are decided one
    # at a time, so five lines typed at once still get one fallback. Locked before the message
    # is inserted: the insert's foreign-key check also locks the row (shared), and taking that
    # first and FOR UPDATE second is how two concurrent events deadlock.
    conversation = _conversation_for(event, account, lock=True)
    with log_context(conversation=conversation.pk):
        return _store_and_answer(event, account, conversation, text, attachments, details)


def _store_and_answer(
    event: MessageEvent | Postback,
    account: InstagramBusinessAccount | None,
    conversation: Conversation,
    text: str,
    attachments: list,
    details: dict,
) -> Message | None:
    """Store a customer's message in its (locked) conversation, and the bot's reply to it
    (queued; returned for the caller to send once this transaction commits)."""
    try:
        # A savepoint: a duplicate must not break the event's transaction.
        with transaction.atomic():
            message = Message.objects.create(
                conversation=conversation,
                direction=Message.Direction.INCOMING,
                author=Message.Author.CUSTOMER,
                mid=event.mid,
                text=text,
                attachments=attachments,
                details=details,
                timestamp=event.timestamp,
            )
    except IntegrityError:
        if Message.objects.filter(mid=event.mid).exists():
            logger.info("Message %s was delivered again: already stored and answered", event.mid)
            return None
        raise
    conversation.record_activity(event.timestamp)
    if conversation.status == Conversation.Status.ARCHIVED:
        conversation.set_status(Conversation.Status.ACTIVE)
    logger.info("Stored message %s from %s", event.mid, event.customer_id)

    reply, reason = _decide_reply(event, account, conversation, message)
    if reply is None:
        logger.info("Not answering message %s: %s", event.mid, reason)
        return None
    parts = _queue_outgoing(
        conversation,
        reply.text,
        author=Message.Author.BOT,
        in_reply_to=message,
        rule_id=reply.rule.id if reply.rule else None,
        is_fallback=reply.is_fallback,
        queue_send=False,
    )
    return parts[0]


def _decide_reply(
    event: MessageEvent | Postback,
    account: InstagramBusinessAccount | None,
    conversation: Conversation,
    message: Message,
) -> tuple[Reply | None, str]:
    """The bot's reply to a stored customer message, or None and the reason for silence."""
    now = timezone.now()
    if event.standby:
        return None, "another app owns this conversation (standby)"
    if isinstance(event, MessageEvent) and event.is_self:
        return None, "it is the account's own test message"
    if now - event.timestamp > MESSAGING_WINDOW:
        return None, "it is older than Instagram's 24-hour messaging window"
    if conversation.bot_is_paused(now):
        paused_until = conversation.bot_paused_until
        return None, f"staff took the conversation over (bot paused until {paused_until})"

    if message.text.strip():
        reply = choose_reply(account, message.text)
    elif settings.NO_TEXT_REPLY == "none":
        return None, "it has no text, and NO_TEXT_REPLY is none"
    elif settings.NO_TEXT_REPLY == "fallback":
        reply = Reply(fallback_text(account))
    else:
        reply = Reply(settings.NO_TEXT_REPLY)

    if not reply.text.strip():
        return None, "the reply it would get is empty"
    if reply.is_fallback and _fallback_sent_recently(conversation, now):
        return None, "the fallback reply was sent to this customer within FALLBACK_COOLDOWN_HOURS"
    return reply, ""


def _fallback_sent_recently(conversation: Conversation, now: datetime) -> bool:
    since = now - timedelta(hours=settings.FALLBACK_COOLDOWN_HOURS)
    return (
        conversation.messages.filter(is_fallback=True, part=1, created_at__gte=since)
        .exclude(status__in=[Message.Status.FAILED, Message.Status.CANCELLED])
        .exists()
    )


def send_staff_reply(conversation: Conversation, text: str, user) -> list[Message]:
    """Staff answer from the inbox: through the same queue and Graph client as the bot.

    The bot then stays silent in this conversation for HUMAN_TAKEOVER_HOURS.
    """
    with transaction.atomic():
        parts = _queue_outgoing(conversation, text, author=Message.Author.STAFF, sent_by=user)
        pause_bot_for_takeover(conversation)
    logger.info("%s queued a reply to %s from the inbox", user, conversation.customer_id)
    return parts


def pause_bot_for_takeover(conversation: Conversation) -> None:
    """Staff are answering: the bot stays silent for HUMAN_TAKEOVER_HOURS.

    Bot replies still waiting in the queue are cancelled now (one already being sent is
    checked by send_reply).
    """
    conversation.pause_bot(timezone.now() + timedelta(hours=settings.HUMAN_TAKEOVER_HOURS))
    conversation.messages.filter(author=Message.Author.BOT, status=Message.Status.QUEUED).update(
        status=Message.Status.CANCELLED, last_error=TAKEN_OVER, next_attempt_at=None
    )


def _queue_outgoing(
    conversation: Conversation,
    text: str,
    *,
    author: str,
    in_reply_to: Message | None = None,
    rule_id: int | None = None,
    is_fallback: bool = False,
    sent_by=None,
    queue_send: bool = True,
) -> list[Message]:
    """Store `text` as queued outgoing messages and queue the first one's send (unless
    `queue_send` is off: the caller sends it once the transaction commits).

    Runs in the caller's transaction: an automatic reply commits with the message it answers.
    """
    chunks = graph.split_text(text)
    if not chunks:
        raise ValueError("an outgoing message needs text")
    now = timezone.now()
    parts = []
    for number, chunk in enumerate(chunks, start=1):
        parts.append(
            Message.objects.create(
                conversation=conversation,
                direction=Message.Direction.OUTGOING,
                author=author,
                text=chunk,
                in_reply_to=in_reply_to,
                part=number,
                is_last_part=number == len(chunks),
                first_part=parts[0] if parts else None,
                status=Message.Status.QUEUED,
                # Later parts wait for the part before them (released by send_reply).
                next_attempt_at=now if number == 1 else None,
                rule_id=rule_id,
                is_fallback=is_fallback,
                sent_by=sent_by,
            )
        )
    if queue_send:
        enqueue_send(parts[0].pk)
    logger.info(
        "Queued a %s message to %s in %d part(s)", author, conversation.customer_id, len(parts)
    )
    return parts


def _record_echo(event: MessageEvent, account: InstagramBusinessAccount | None) -> None:
    """A message the business sent: one of our replies, or staff using the Instagram app."""
    if Message.objects.filter(mid=event.mid).exists():
        return  # our reply, already recorded with the id the Send API returned; or a redelivery
    conversation = _conversation_for(event, account)
    if _match_echo_to_reply_in_flight(conversation, event):
        return
    try:
        with transaction.atomic():
            Message.objects.create(
                conversation=conversation,
                direction=Message.Direction.OUTGOING,
                author=Message.Author.BUSINESS_APP,
                status=Message.Status.SENT,
                mid=event.mid,
                text=event.text,
                attachments=[{"type": a.type, "url": a.url} for a in event.attachments],
                timestamp=event.timestamp,
            )
    except IntegrityError:
        if Message.objects.filter(mid=event.mid).exists():
            return  # the Send API's answer recorded this id meanwhile
        raise
    conversation.record_activity(event.timestamp)
    # A human is answering from the Instagram app: the bot must not talk over them.
    pause_bot_for_takeover(conversation)
    logger.info(
        "Stored message %s sent by staff from the Instagram app; bot paused for %s",
        event.mid,
        conversation.customer_id,
    )


def _match_echo_to_reply_in_flight(conversation: Conversation, event: MessageEvent) -> bool:
    """Attach the echo's id to our message whose Send API call has not answered yet.

    Meta can deliver the echo before the Send API call returns the message id. Such a
    message has been attempted, has no id yet, and has the echo's text.
    """
    candidates = Message.objects.filter(
        conversation=conversation,
        author__in=SENT_BY_US,
        mid__isnull=True,
        attempts__gte=1,
        status__in=[Message.Status.SENDING, Message.Status.QUEUED],
        text=event.text.strip(),
    ).order_by("created_at", "id")
    for reply in candidates[:5]:
        try:
            with transaction.atomic():
                if Message.objects.filter(pk=reply.pk, mid__isnull=True).update(mid=event.mid):
                    logger.info(
                        "Echo %s matched reply %s before its send returned", event.mid, reply.pk
                    )
                    return True
        except IntegrityError:
            return True  # the id was recorded on a reply meanwhile
    return False


def _conversation_for(
    event: Event, account: InstagramBusinessAccount | None, lock: bool = False
) -> Conversation:
    """The event's conversation, created if new; with `lock`, locked until the transaction
    ends (a row this transaction creates is locked by its insert)."""
    conversations = Conversation.objects.select_for_update() if lock else Conversation.objects
    conversation, created = conversations.get_or_create(
        instagram_account_id=event.account_id,
        customer_id=event.customer_id,
        defaults={"account": account, "last_message_at": event.timestamp},
    )
    if account is not None and not created and conversation.account_id is None:
        # Served by the environment's credentials until the account was stored.
        Conversation.objects.filter(pk=conversation.pk, account__isnull=True).update(
            account=account
        )
        conversation.account = account
    return conversation


def _message_details(event: MessageEvent) -> dict:
    details = {}
    if event.reply_to_mid:
        details["reply_to_mid"] = event.reply_to_mid
    if event.reply_to_story:
        details["reply_to_story"] = {"id": event.reply_to_story.id, "url": event.reply_to_story.url}
    if event.quick_reply_payload:
        details["quick_reply_payload"] = event.quick_reply_payload
    if event.referral:
        details["referral"] = {
            "ref": event.referral.ref,
            "source": event.referral.source,
            "type": event.referral.type,
        }
    if event.is_unsupported:
        details["unsupported"] = True
    return details


def _describe(event: Event) -> str:
    mid = getattr(event, "mid", "")
    return f"{type(event).__name__} {mid}".strip()


# --- sending --------------------------------------------------------------------------------


def send_reply(message_id: int) -> None:
    """Send one queued outgoing message. Safe to call twice: only one call claims it."""
    claimed = Message.claim_for_sending(message_id)
    try:
        message = Message.objects.select_related("conversation__account").get(pk=message_id)
    except Message.DoesNotExist:
        logger.warning("Reply %s no longer exists: nothing to send", message_id)
        return
    with log_context(
        account=message.conversation.instagram_account_id, conversation=message.conversation_id
    ):
        if not claimed:
            logger.info("Reply %s is %s: not sending it again", message.pk, message.status)
            return
        _send(message)


def _send(message: Message) -> None:
    if message.mid:
        # Its echo arrived while an earlier attempt was unanswered: Meta has it already.
        _finish_sent(message, message.mid)
        return
    if message.author == Message.Author.BOT and message.conversation.bot_is_paused():
        _finish_failed(message, TAKEN_OVER, Message.Status.CANCELLED)
        logger.info("Reply %s cancelled: staff took the conversation over", message.pk)
        return

    account = message.conversation.account
    if account is not None and account.token_is_invalid:
        # Meta already refused this token: don't try until staff replace it.
        since = f"{account.token_invalid_since:%Y-%m-%d %H:%M} UTC"
        _finish_failed(message, f"not sent: the account's access token is invalid since {since}")
        return

    slot = reserve_send_slot(message.conversation.instagram_account_id, _send_rate(account))
    if slot > timezone.now() + MAX_SLOT_WAIT:
        # The account's rate is used up for a while: come back for the slot, attempt uncounted.
        with transaction.atomic():
            if message.defer(slot):
                enqueue_send(message.pk, run_after=slot)
        return
    _sleep_until(slot)

    try:
        sent = graph.client_for(account).send_message(
            message.conversation.customer_id, message.text
        )
    except graph.InvalidTokenError as exc:
        logger.error(
            "CREDENTIALS PROBLEM: the Graph API rejected the access token for account %s; "
            "its replies fail until the token is replaced. Reply %s failed: %s",
            message.conversation.instagram_account_id,
            message.pk,
            exc,
        )
        if account is not None:
            account.mark_token_invalid(str(exc))
        _finish_failed(message, f"invalid access token: {exc}")
    except graph.PermanentGraphAPIError as exc:
        logger.warning("Reply %s failed for good: %s", message.pk, exc)
        _finish_failed(message, str(exc))
    except graph.RateLimitedError as exc:
        pause_until = pause_sending(message.conversation.instagram_account_id)
        logger.warning(
            "Meta is rate-limiting account %s: its sends pause until %s (%s)",
            message.conversation.instagram_account_id,
            pause_until,
            exc,
        )
        _retry_or_fail(message, str(exc), not_before=pause_until)
    except graph.TransientGraphAPIError as exc:
        _retry_or_fail(message, str(exc))
    else:
        _finish_sent(message, sent.message_id)


def _finish_sent(message: Message, mid: str) -> None:
    with transaction.atomic():
        message.mark_sent(mid)
        message.conversation.record_activity(message.timestamp)
        _release_next_part(message)
    logger.info("Sent reply %s to %s as %s", message.pk, message.conversation.customer_id, mid)


def _finish_failed(message: Message, reason: str, status: str = Message.Status.FAILED) -> None:
    with transaction.atomic():
        message.mark_failed(reason, status)
        _fail_later_parts(message, status)


def _fail_later_parts(message: Message, status: str = Message.Status.FAILED) -> None:
    # The rest of a split message would make no sense on its own.
    Message.objects.filter(
        first_part=message.head, part__gt=message.part, status=Message.Status.QUEUED
    ).update(status=status, last_error=f"not sent: part {message.part} was not sent")


def retry_failed(message: Message) -> bool:
    """Send a failed outgoing message again, from its first unsent part (an operator's retry)."""
    head = message.head
    parts = [head, *head.later_parts.order_by("part")]
    unsent = [part for part in parts if part.status != Message.Status.SENT]
    if not unsent or unsent[0].status != Message.Status.FAILED:
        return False
    with transaction.atomic():
        now = timezone.now()
        if not unsent[0].requeue(now):
            return False
        for part in unsent[1:]:
            part.requeue(None)  # waits for the part before it, as when first queued
        enqueue_send(unsent[0].pk)
    logger.info("Reply %s queued again by an operator", unsent[0].pk)
    return True


# How many usernames a worker fetches between two looks for waiting deliveries: few, so that
# a delivery arriving meanwhile waits for a few Graph calls at most.
USERNAME_BATCH = 5


def fetch_missing_usernames(limit: int = USERNAME_BATCH) -> int:
    """In the worker, when no delivery waits: ask Instagram for the usernames of the newest
    conversations' customers, once each; return how many were asked for (0: none is missing).

    A username only labels the inbox: it waits until the worker has nothing better to do, so
    a burst of new customers is answered first and named afterwards. Each conversation is
    claimed with a conditional UPDATE, so two workers never ask for the same one.
    """
    missing = Conversation.objects.filter(profile_requested_at__isnull=True)
    asked = 0
    for conversation_id in missing.order_by("-pk").values_list("pk", flat=True)[:limit]:
        if missing.filter(pk=conversation_id).update(profile_requested_at=timezone.now()):
            fetch_customer_profile(conversation_id)
            asked += 1
    return asked


def fetch_customer_profile(conversation_id: int) -> None:
    """Learn the customer's username from Instagram (for the inbox); best effort: a customer
    whose profile Instagram does not give stays known by their id."""
    try:
        conversation = Conversation.objects.select_related("account").get(pk=conversation_id)
    except Conversation.DoesNotExist:
        return  # deleted meanwhile
    if conversation.customer_username:
        return
    try:
        profile = graph.client_for(conversation.account).get_user_profile(conversation.customer_id)
    except graph.GraphAPIError as exc:
        logger.info("No profile for customer %s: %s", conversation.customer_id, exc)
        return
    Conversation.objects.filter(pk=conversation_id).update(customer_username=profile.username)


def _retry_or_fail(message: Message, reason: str, not_before: datetime | None = None) -> None:
    if message.attempts >= settings.SEND_MAX_ATTEMPTS:
        logger.warning(
            "Reply %s failed after %d attempts: %s", message.pk, message.attempts, reason
        )
        _finish_failed(message, f"gave up after {message.attempts} attempts: {reason}")
        return
    at = timezone.now() + timedelta(seconds=retry_delay(message.attempts))
    if not_before is not None:
        at = max(at, not_before)
    with transaction.atomic():
        if not message.schedule_retry(reason, at):
            logger.info("Reply %s changed state meanwhile (%s): no retry", message.pk, reason)
            return
        enqueue_send(message.pk, run_after=at)
    logger.info(
        "Reply %s: attempt %d failed (%s); retrying at %s", message.pk, message.attempts, reason, at
    )


# A worker waits in-process for a send slot this close; a later slot re-queues the message.
MAX_SLOT_WAIT = timedelta(seconds=1)


def _send_rate(account: InstagramBusinessAccount | None) -> float:
    return (account.max_sends_per_second if account else None) or settings.SEND_RATE_PER_SECOND


def reserve_send_slot(instagram_account_id: str, per_second: float) -> datetime:
    """When this account's next message may go, honouring its rate and any pause.

    A slot within MAX_SLOT_WAIT is taken (the next one moves 1/rate later); a later one is
    only reported, for the caller to come back then. Row-locked: holds across workers.
    """
    now = timezone.now()
    with transaction.atomic():
        throttles = SendThrottle.objects.select_for_update()
        try:
            throttle = throttles.get(instagram_account_id=instagram_account_id)
        except SendThrottle.DoesNotExist:  # the account's first send
            SendThrottle.objects.get_or_create(instagram_account_id=instagram_account_id)
            throttle = throttles.get(instagram_account_id=instagram_account_id)
        slot = max(now, throttle.next_send_at or now, throttle.paused_until or now)
        if slot <= now + MAX_SLOT_WAIT:
            throttle.next_send_at = slot + timedelta(seconds=1 / per_second)
            throttle.save(update_fields=["next_send_at"])
    return slot


def pause_sending(instagram_account_id: str) -> datetime:
    """Meta said "too fast" for this account: hold its sends, and only its sends, for a while."""
    until = timezone.now() + timedelta(seconds=settings.SEND_RATE_LIMIT_PAUSE)
    SendThrottle.objects.update_or_create(
        instagram_account_id=instagram_account_id, defaults={"paused_until": until}
    )
    return until


def _sleep_until(moment: datetime) -> None:
    wait = (moment - timezone.now()).total_seconds()
    if wait > 0:
        time.sleep(wait)


def retry_delay(attempts: int) -> float:
    """Seconds before the next attempt, after `attempts` failed ones: backoff with jitter.

    Jitter spreads the retries of many replies that failed together (an outage) so they do
    not all hit Meta again in the same second.
    """
    ceiling = min(
        settings.SEND_RETRY_MAX_DELAY, settings.SEND_RETRY_BASE_DELAY * 2 ** (attempts - 1)
    )
    return random.uniform(ceiling / 2, ceiling)


def _release_next_part(message: Message) -> None:
    if message.is_last_part:
        return
    following = message.head.later_parts.filter(part=message.part + 1).first()
    if following and following.release(timezone.now()):
        enqueue_send(following.pk)


# --- recovering -----------------------------------------------------------------------------


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
    for pk in stalled.values_list("pk", flat=True)[:1000]:
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
    are the truth, so they are what we sweep. Every change is a conditional UPDATE, so a
    sweep racing a worker (or another sweep) changes nothing twice.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.REPLY_STALLED_AFTER)
    result = SweepResult()

    stalled_queued = Message.objects.filter(
        status=Message.Status.QUEUED, next_attempt_at__lt=cutoff
    )
    for pk in stalled_queued.values_list("pk", flat=True)[:1000]:
        with transaction.atomic():
            if stalled_queued.filter(pk=pk).update(next_attempt_at=now):
                enqueue_send(pk)
                result.requeued += 1

    stalled_sending = Message.objects.filter(
        status=Message.Status.SENDING, sending_started_at__lt=cutoff
    ).select_related("conversation")
    for message in stalled_sending[:1000]:
        if message.mid:
            _finish_sent(message, message.mid)
            result.confirmed += 1
            continue
        # We cannot know whether Meta got it (see README, "The one duplicate window").
        # Sending again risks a duplicate; not sending risks silence. We send again.
        logger.warning("Reply %s: its worker stopped during the send; trying again", message.pk)
        _retry_or_fail(message, "the worker stopped during the send")
        result.resent += 1

    waiting = Message.objects.filter(
        status=Message.Status.QUEUED, next_attempt_at__isnull=True, created_at__lt=cutoff
    )
    for message in waiting[:1000]:
        previous = message.previous_part()
        if previous.status == Message.Status.SENT:
            with transaction.atomic():
                if message.release(now):
                    enqueue_send(message.pk)
                    result.released += 1
        elif previous.status == Message.Status.FAILED:
            _fail_later_parts(previous)
    if result != SweepResult():
        logger.info("Sweep: %s", result)
    return result
