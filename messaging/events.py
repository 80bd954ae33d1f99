"""Handling one webhook event for one account, in a transaction of its own: a customer's
message (stored, and the bot's reply queued), an echo of a message the business sent, an
unsend, an edit, a reaction, a read receipt, a referral.

Handling is idempotent: a redelivered event changes nothing (Message.mid is unique).
"""

import logging
import random
import time

from django.db import IntegrityError, OperationalError, transaction

from accounts.models import InstagramBusinessAccount
from instabot.logging import log_context
from messaging import hooks, replies
from messaging.models import SENT_BY_US, Conversation, Message
from messaging.payloads import (
    Event,
    MessageDeleted,
    MessageEdit,
    MessageEvent,
    Postback,
    Reaction,
    Read,
    Referral,
    ReferralEvent,
    UnknownEvent,
)

logger = logging.getLogger(__name__)

# Concurrent deliveries can deadlock on MySQL/MariaDB and PostgreSQL (InnoDB's locks on a unique
# key that several transactions insert at once, for one). The database rolled our transaction
# back; running it again is the remedy both document.
DEADLOCK_ATTEMPTS = 3


def handle_in_transaction(event: Event, account: InstagramBusinessAccount | None) -> Message | None:
    """Handle one event in a transaction of its own (run again after a deadlock).

    Returns the bot's reply it stored, queued but not yet sent, if any.
    """
    with log_context(account=event.account_id, mid=getattr(event, "mid", None)):
        for attempt in range(1, DEADLOCK_ATTEMPTS + 1):
            try:
                with transaction.atomic():
                    return handle(event, account)
            except OperationalError as exc:
                if attempt == DEADLOCK_ATTEMPTS or not _is_deadlock(exc):
                    raise
                logger.info(
                    "Deadlock handling %s (attempt %d): running it again", describe(event), attempt
                )
                # A moment of jitter, so the transactions that collided do not collide again.
                time.sleep(random.uniform(0.005, 0.05))
    return None


def _is_deadlock(exc: OperationalError) -> bool:
    # PostgreSQL: deadlock_detected, serialization_failure (psycopg's error is the cause).
    if getattr(exc.__cause__, "sqlstate", None) in {"40P01", "40001"}:
        return True
    # MySQL/MariaDB: ER_LOCK_DEADLOCK, the error code being the first argument.
    return bool(exc.args) and exc.args[0] == 1213


def handle(event: Event, account: InstagramBusinessAccount | None) -> Message | None:
    """Handle one event for `account` (None: the environment's single account), in the
    caller's transaction. Returns the bot's reply it stored, queued but not yet sent."""
    if feature_handler := hooks.event_handler(event):
        # A feature's own event (a comment, a mention), parsed by the parser it registered.
        feature_handler(event, account)
        return None
    match event:
        case MessageEvent(is_echo=True) if hooks.echo_of_a_feature_send(event):
            logger.info(
                "Echo %s is of a feature's send in flight: its sender records it", event.mid
            )
        case MessageEvent(is_echo=True):
            _record_echo(event, account)
        case MessageEvent() | Postback():
            return _record_customer_message(event, account)
        case MessageDeleted():
            # The customer unsent it: keep that it existed, not what it said.
            _account_messages(event).filter(mid=event.mid).update(
                is_deleted=True, text="", attachments=[]
            )
        case MessageEdit():
            _account_messages(event).filter(mid=event.mid, edit_count__lte=event.num_edit).update(
                text=event.text, edit_count=event.num_edit
            )
        case Reaction():
            emoji = (event.emoji or event.reaction) if event.action == "react" else ""
            _account_messages(event).filter(mid=event.mid).update(reaction=emoji)
        case Read():
            _account_messages(event).filter(mid=event.mid, read_at__isnull=True).update(
                read_at=event.timestamp
            )
        case ReferralEvent():
            return _record_customer_message(event, account)
        case UnknownEvent():
            logger.info(
                "Skipped an event of an unknown kind (keys: %s) for account %s",
                ", ".join(event.keys),
                event.account_id,
            )
    return None


def _account_messages(event: Event):
    """The messages of the event's account: a signed event for one account never changes
    another account's message, whatever mid it names."""
    return Message.objects.filter(conversation__instagram_account_id=event.account_id)


def _held_by_another_account(event: MessageEvent | Postback | ReferralEvent) -> bool:
    """Whether another account's message has the event's mid (the caller found none of its own
    account's), logged: mids are unique, so the event cannot be stored, and the other account's
    message is not its to touch."""
    if Message.objects.filter(mid=event.mid).exists():
        logger.warning(
            "Message %s for account %s has the mid of another account's message: not stored",
            event.mid,
            event.account_id,
        )
        return True
    return False


def is_customer_message(event) -> bool:
    """A customer's message (stored, and perhaps answered): what a worker's batch of
    deliveries handles together (messaging.batch)."""
    if isinstance(event, MessageEvent):
        return not event.is_echo
    return isinstance(event, Postback | ReferralEvent)


def customer_message_fields(event: MessageEvent | Postback | ReferralEvent) -> dict:
    """What a customer's message is stored with: its text, attachments and details."""
    match event:
        case Postback():
            # A button the customer tapped: a message from them, with the button's title.
            details = {"postback": {"title": event.title, "payload": event.payload}}
            return {"text": event.title, "attachments": [], "details": details}
        case ReferralEvent():
            # They opened the thread from a link or an ad: a referral rule may greet them.
            logger.info(
                "Customer %s arrived through a referral (source %s, ref %s)",
                event.customer_id,
                event.referral.source,
                event.referral.ref,
            )
            details = {"referral": _referral_details(event.referral)}
            return {"text": "", "attachments": [], "details": details}
    return {
        "text": event.text,
        "attachments": [{"type": a.type, "url": a.url} for a in event.attachments],
        "details": _message_details(event),
    }


def _record_customer_message(
    event: MessageEvent | Postback | ReferralEvent, account: InstagramBusinessAccount | None
) -> Message | None:
    # Lock the conversation until this event commits: replies to one customer are decided one
    # at a time, so five lines typed at once still get one fallback. Locked before the message
    # is inserted: the insert's foreign-key check also locks the row (shared), and taking that
    # first and FOR UPDATE second is how two concurrent events deadlock.
    conversation, new_conversation = conversation_for(event, account, lock=True)
    with log_context(conversation=conversation.pk):
        try:
            # A savepoint: a duplicate must not break the event's transaction.
            with transaction.atomic():
                message = Message.objects.create(
                    conversation=conversation,
                    direction=Message.Direction.INCOMING,
                    author=Message.Author.CUSTOMER,
                    mid=event.mid,
                    timestamp=event.timestamp,
                    **customer_message_fields(event),
                )
        except IntegrityError:
            if _account_messages(event).filter(mid=event.mid).exists():
                logger.info(
                    "Message %s was delivered again: already stored and answered", event.mid
                )
                return None
            if _held_by_another_account(event):
                return None
            raise
        logger.info("Stored message %s from %s", event.mid, event.customer_id)

        reply, reason = replies.decide_reply(
            event, account, conversation, message, new_conversation=new_conversation
        )
        # The conversation's changes in one UPDATE (it is locked): its last message, reopened
        # if archived, and, when only the fallback or nothing answers, waiting for a person
        # (the inbox). A thread opened from a link with no rule for it waits for nobody.
        conversation.customer_wrote(
            event.timestamp,
            awaits_person=(reply is None or reply.is_fallback)
            and not isinstance(event, ReferralEvent),
        )
        if reply is None:
            logger.info("Not answering message %s: %s", event.mid, reason)
            return None
        return replies.queue_bot_reply(conversation, reply, in_reply_to=message)


def _record_echo(event: MessageEvent, account: InstagramBusinessAccount | None) -> None:
    """A message the business sent: one of our replies, or staff using the Instagram app."""
    stored_in = _account_messages(event).filter(mid=event.mid)
    if (conversation_id := stored_in.values_list("conversation", flat=True).first()) is not None:
        # Our reply, already recorded with the id the Send API returned; or a redelivery.
        with log_context(conversation=conversation_id):
            logger.info("Echo %s matched a message already stored", event.mid)
        return
    if _held_by_another_account(event):
        return
    conversation, _ = conversation_for(event, account)
    with log_context(conversation=conversation.pk):
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
                # The Send API's answer recorded this id meanwhile (or another account holds it).
                return
            raise
        conversation.record_activity(event.timestamp)
        # A human is answering from the Instagram app: the bot must not talk over them.
        replies.pause_bot_for_takeover(conversation)
        conversation.person_answered()
        logger.info(
            "Stored message %s sent by staff from the Instagram app; bot paused for %s",
            event.mid,
            conversation.customer_id,
        )


def _match_echo_to_reply_in_flight(conversation: Conversation, event: MessageEvent) -> bool:
    """Attach the echo's id to our message whose Send API call has not answered yet.

    Meta can deliver the echo before the Send API call returns the message id. Such a
    message has been attempted, has no id yet, and has the echo's text; an echo of buttons,
    cards or media (an attachment, whatever text it carries) is one of ours that is no plain
    text. A call still running (sending) is the likelier sender than one waiting for a retry.
    """
    candidates = Message.objects.filter(
        conversation=conversation,
        author__in=SENT_BY_US,
        mid__isnull=True,
        attempts__gte=1,
        status__in=[Message.Status.SENDING, Message.Status.QUEUED],
    )
    if event.attachments or not event.text.strip():
        candidates = candidates.exclude(content={})
    else:
        candidates = candidates.filter(text=event.text.strip())
    # Sending first ("queued" sorts after "sending"), then oldest.
    for reply in candidates.order_by("-status", "created_at", "id")[:5]:
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


def conversation_for(
    event: Event, account: InstagramBusinessAccount | None, lock: bool = False
) -> tuple[Conversation, bool]:
    """The event's conversation, created if new, and whether it was; with `lock`, locked
    until the transaction ends (a row this transaction creates is locked by its insert)."""
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
    return conversation, created


def _message_details(event: MessageEvent) -> dict:
    details = {}
    if event.reply_to_mid:
        details["reply_to_mid"] = event.reply_to_mid
    if event.reply_to_story:
        details["reply_to_story"] = {"id": event.reply_to_story.id, "url": event.reply_to_story.url}
    if event.quick_reply_payload:
        details["quick_reply_payload"] = event.quick_reply_payload
    if event.referral:
        details["referral"] = _referral_details(event.referral)
    if event.is_unsupported:
        details["unsupported"] = True
    if event.found_by:
        details["found_by"] = event.found_by
    return details


def _referral_details(referral: Referral) -> dict:
    details = {"ref": referral.ref, "source": referral.source, "type": referral.type}
    if referral.ad_id:
        details["ad_id"] = referral.ad_id
    return details


def describe(event: Event) -> str:
    mid = getattr(event, "mid", "")
    return f"{type(event).__name__} {mid}".strip()
