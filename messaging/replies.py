"""Deciding what to answer, and queuing outgoing messages: the bot's replies (rules, fallback,
cooldown, the 24-hour window, takeover) and staff replies from the inbox, the admin or the API.

Everything here runs in the caller's transaction: a bot reply commits with the message it
answers, and a staff reply with the bot's step back.
"""

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import InstagramBusinessAccount
from instabot.logging import log_context
from messaging import hooks
from messaging.models import Conversation, Message
from messaging.payloads import REFERRAL_MID_PREFIX, MessageEvent, Postback, ReferralEvent
from messaging.sending import TAKEN_OVER
from messaging.windows import MESSAGING_WINDOW, staff_reply_window
from messaging.worker_identity import this_worker
from meta import graph, messages
from rules.matching import Incoming, Reply, answer

logger = logging.getLogger(__name__)

COOLING_DOWN = "the fallback reply was sent to this customer within FALLBACK_COOLDOWN_HOURS"


def decide_reply(
    event: MessageEvent | Postback | ReferralEvent,
    account: InstagramBusinessAccount | None,
    conversation: Conversation,
    message: Message,
    *,
    new_conversation: bool = False,
) -> tuple[Reply | None, str]:
    """The bot's reply to a stored customer message, or None and the reason for silence.
    `new_conversation`: this message opened it (its first message, no fallback sent yet).

    Features (contacts and their flows) see every stored message and the reply chosen, and
    may change it, before the fallback's cooldown is applied (messaging.hooks)."""
    reply, reason = _choose_reply(event, account, conversation, message, new_conversation)
    stored = hooks.CustomerMessage(event, account, conversation, message, new_conversation)
    reply, reason = hooks.customer_message_stored(stored, reply, reason)
    if reply is None:
        return None, reason
    # A conversation this message opened has no fallback yet: no query for it.
    if (
        reply.is_fallback
        and not new_conversation
        and _fallback_sent_recently(conversation, timezone.now())
    ):
        return None, COOLING_DOWN
    return reply, ""


def decide_replies(stored: list[hooks.CustomerMessage]) -> list[tuple[Reply | None, str]]:
    """decide_reply for the stored messages of distinct conversations at once (a worker's
    batch): the features see them together (their batch forms, messaging.hooks), and one
    query looks for the fallbacks sent recently in all their conversations."""
    chosen = [
        _choose_reply(s.event, s.account, s.conversation, s.message, s.new_conversation)
        for s in stored
    ]
    decided = hooks.customer_messages_stored(
        [(s, reply, reason) for s, (reply, reason) in zip(stored, chosen, strict=True)]
    )
    fallbacks = [
        s.conversation.pk
        for s, (reply, _) in zip(stored, decided, strict=True)
        if reply is not None and reply.is_fallback and not s.new_conversation
    ]
    cooling = _fallbacks_sent_recently(fallbacks, timezone.now()) if fallbacks else set()
    return [
        (None, COOLING_DOWN) if reply is not None and s.conversation.pk in cooling else (reply, why)
        for s, (reply, why) in zip(stored, decided, strict=True)
    ]


def _choose_reply(
    event: MessageEvent | Postback | ReferralEvent,
    account: InstagramBusinessAccount | None,
    conversation: Conversation,
    message: Message,
    new_conversation: bool,
) -> tuple[Reply | None, str]:
    """Silent (and why) where the bot must not speak; else what the rules answer."""
    now = timezone.now()
    if event.standby:
        return None, "another app owns this conversation (standby)"
    if isinstance(event, MessageEvent) and event.is_self:
        return None, "it is the account's own test message"
    if now - event.timestamp > MESSAGING_WINDOW:
        return None, "it is older than Instagram's 24-hour messaging window"
    if conversation.bot_is_paused(now):
        return None, f"the bot is silent here: {conversation.bot_silence_reason()}"
    if (
        isinstance(event, MessageEvent)
        and event.found_by
        and _business_wrote_since(conversation, message)
    ):
        return None, f"found late ({event.found_by}), and the business has written since"

    return answer(
        account, incoming_of(event, conversation, message, new_conversation=new_conversation)
    )


def incoming_of(
    event: MessageEvent | Postback | ReferralEvent,
    conversation: Conversation,
    message: Message,
    *,
    new_conversation: bool = False,
) -> Incoming:
    """What the triggers of rules look at in a customer's stored message."""

    def is_first_message() -> bool:
        if new_conversation:
            return True  # no query: the conversation began with this message
        # A thread opened from a link or an ad is no message of theirs yet.
        earlier = conversation.messages.filter(direction=Message.Direction.INCOMING).exclude(
            mid__startswith=REFERRAL_MID_PREFIX
        )
        return not earlier.exclude(pk=message.pk).exists()

    match event:
        case Postback():
            # An ice breaker's tap is a new customer's first act: a welcome may answer it when
            # no rule has its payload.
            return Incoming(
                text=message.text,
                payload=event.payload,
                is_first_message=is_first_message,
                message_id=message.pk,
                conversation_id=conversation.pk,
            )
        case ReferralEvent():
            referral = event.referral
            return Incoming(referral_ref=referral.ref, ad_id=referral.ad_id, opens_thread=True)
    types = tuple(attachment.type for attachment in event.attachments)
    return Incoming(
        text=message.text,
        payload=event.quick_reply_payload,
        referral_ref=event.referral.ref if event.referral else None,
        ad_id=event.referral.ad_id if event.referral else "",
        story_mention="story_mention" in types,
        story_reply=event.reply_to_story is not None,
        attachment_types=types,
        is_first_message=is_first_message,
        message_id=message.pk,
        conversation_id=conversation.pk,
    )


def _business_wrote_since(conversation: Conversation, message: Message) -> bool:
    """A message we learn of late was answered if anything went to the customer after it."""
    return (
        conversation.messages.filter(
            direction=Message.Direction.OUTGOING, timestamp__gt=message.timestamp
        )
        .exclude(status__in=[Message.Status.FAILED, Message.Status.CANCELLED])
        .exists()
    )


def _fallback_sent_recently(conversation: Conversation, now: datetime) -> bool:
    return _recent_fallbacks(now).filter(conversation=conversation).exists()


def _fallbacks_sent_recently(conversation_ids: list[int], now: datetime) -> set[int]:
    """Which of these conversations had the fallback within FALLBACK_COOLDOWN_HOURS."""
    recent = _recent_fallbacks(now).filter(conversation_id__in=conversation_ids).order_by()
    return set(recent.values_list("conversation_id", flat=True).distinct())


def _recent_fallbacks(now: datetime):
    since = now - timedelta(hours=settings.FALLBACK_COOLDOWN_HOURS)
    return Message.objects.filter(is_fallback=True, part=1, created_at__gte=since).exclude(
        status__in=[Message.Status.FAILED, Message.Status.CANCELLED]
    )


def queue_bot_reply(
    conversation: Conversation, reply: Reply, in_reply_to: Message
) -> Message | None:
    """Store the bot's reply, queued; returned for the caller to send once its transaction
    commits (no task is queued for it). None for a reply that comes later (`reply.later`:
    its answerer queues it after this transaction, with queue_late_bot_reply)."""
    if reply.later:
        return None
    parts = queue_outgoing(
        conversation,
        reply.messages,
        author=Message.Author.BOT,
        in_reply_to=in_reply_to,
        rule_id=reply.rule.id if reply.rule else None,
        is_fallback=reply.is_fallback,
        queue_send=False,
    )
    if reply.answer is not None:
        reply.answer.record(parts[0])  # an answerer's: what it answered from
    return parts[0]


def queue_late_bot_reply(question: Message, reply: Reply) -> tuple[Message | None, str]:
    """A bot reply an answerer decided after the customer's message committed (it asked a
    slow service outside the event's transaction): queued as the event would have queued it,
    unless the bot must be silent now (a person took over, the bot was paused, something else
    answered meanwhile). Returns the reply, for the caller to send once its transaction
    commits, or None and why not. Runs in the caller's transaction."""
    conversation = (
        Conversation.objects.select_for_update().filter(pk=question.conversation_id).first()
    )
    now = timezone.now()
    if conversation is None:
        return None, "the conversation was deleted meanwhile"
    if conversation.bot_is_paused(now):
        return None, f"the bot is silent here: {conversation.bot_silence_reason()}"
    if now - question.timestamp > MESSAGING_WINDOW:
        return None, "it is older than Instagram's 24-hour messaging window"
    if question.replies.exists():
        return None, "it was answered meanwhile"
    if reply.is_fallback:
        # Only the fallback answers: a person is needed, as when the event decided it.
        conversation.await_person(question.timestamp)
        if _fallback_sent_recently(conversation, now):
            return None, COOLING_DOWN
    return queue_bot_reply(conversation, reply, in_reply_to=question), ""


class ReplyRefused(ValueError):
    """Instagram would refuse a staff reply now; str() says why, for the reply box."""


def send_staff_reply(conversation: Conversation, text: str, user) -> list[Message]:
    """Staff answer from the inbox: through the same queue and Graph client as the bot.

    The bot then stays silent in this conversation for HUMAN_TAKEOVER_HOURS. Raises
    ReplyRefused when Instagram's windows are closed (staff_reply_window).
    """
    window = staff_reply_window(conversation)
    if not window.open:
        raise ReplyRefused(window.reason)
    with staff_log_context(conversation), transaction.atomic():
        parts = queue_outgoing(
            conversation,
            text,
            author=Message.Author.STAFF,
            sent_by=user,
            human_agent=window.human_agent,
        )
        pause_bot_for_takeover(conversation)
        conversation.person_answered()
        logger.info("%s queued a reply to %s", user, conversation.customer_id)
    return parts


def pause_bot_for_takeover(conversation: Conversation) -> None:
    """Staff are answering: the bot stays silent for HUMAN_TAKEOVER_HOURS.

    Bot replies still waiting in the queue are cancelled now (one already being sent is
    checked by send_reply).
    """
    conversation.take_over(timezone.now() + timedelta(hours=settings.HUMAN_TAKEOVER_HOURS))
    _cancel_queued_bot_replies(conversation)


def pause_bot(conversation: Conversation) -> None:
    """Staff paused the bot here: silent until resumed; its queued replies are cancelled."""
    with staff_log_context(conversation), transaction.atomic():
        conversation.pause_bot()
        _cancel_queued_bot_replies(conversation)
        logger.info("The bot is paused for %s until resumed", conversation.customer_id)


def resume_bot(conversation: Conversation) -> None:
    with staff_log_context(conversation):
        conversation.resume_bot()
        logger.info("The bot answers %s again", conversation.customer_id)


def staff_log_context(conversation: Conversation):
    """Staff act outside any delivery: their lines name the conversation themselves."""
    return log_context(account=conversation.instagram_account_id, conversation=conversation.pk)


def _cancel_queued_bot_replies(conversation: Conversation) -> None:
    conversation.messages.filter(author=Message.Author.BOT, status=Message.Status.QUEUED).update(
        status=Message.Status.CANCELLED, last_error=TAKEN_OVER, due_at=None
    )


def queue_outgoing(
    conversation: Conversation,
    outgoing: str | Sequence[messages.Outgoing],
    *,
    author: str,
    in_reply_to: Message | None = None,
    rule_id: int | None = None,
    is_fallback: bool = False,
    sent_by=None,
    queue_send: bool = True,
    human_agent: bool = False,
) -> list[Message]:
    """Store text, or messages of meta.messages' shapes, as queued outgoing messages sent in
    order: the outbox's sender takes the first at its next pass (unless `queue_send` is off:
    this worker holds it and sends it itself once the transaction commits).

    Runs in the caller's transaction: an automatic reply commits with the message it answers.
    """
    if isinstance(outgoing, str):
        outgoing = [messages.Text(outgoing)]
    pieces = [piece for message in outgoing for piece in _pieces(message)]
    rows = _outgoing_rows(
        conversation,
        pieces,
        author=author,
        in_reply_to=in_reply_to,
        rule_id=rule_id,
        is_fallback=is_fallback,
        sent_by=sent_by,
        held=not queue_send,
        human_agent=human_agent,
    )
    parts = []
    for row in rows:
        row.first_part = parts[0] if parts else None
        row.save(force_insert=True)
        parts.append(row)
    logger.info(
        "Queued a %s message to %s in %d part(s)", author, conversation.customer_id, len(parts)
    )
    return parts


def queue_bot_replies(answers: list[tuple[Conversation, Reply, Message]]) -> list[Message | None]:
    """queue_bot_reply for many customer messages at once (a worker's batch): (conversation,
    reply, the message it answers) each; the first parts in one INSERT, the later parts of
    long replies in another. Returns each reply's first part (None: it comes later), held by
    this worker, for it to send once the transaction commits."""
    queued: list[tuple[Reply, list[Message]]] = []
    for conversation, reply, question in answers:
        if reply.later:
            queued.append((reply, []))
            continue
        pieces = [piece for message in reply.messages for piece in _pieces(message)]
        rows = _outgoing_rows(
            conversation,
            pieces,
            author=Message.Author.BOT,
            in_reply_to=question,
            rule_id=reply.rule.id if reply.rule else None,
            is_fallback=reply.is_fallback,
            held=True,
        )
        queued.append((reply, rows))
    Message.objects.bulk_create([rows[0] for _, rows in queued if rows])
    later = []
    for _, rows in queued:
        for row in rows[1:]:
            row.first_part = rows[0]
            later.append(row)
    if later:
        Message.objects.bulk_create(later)
    for reply, rows in queued:
        if rows:
            if reply.answer is not None:
                reply.answer.record(rows[0])  # an answerer's: what it answered from
            logger.info(
                "Queued a bot message to %s in %d part(s)",
                rows[0].conversation.customer_id,
                len(rows),
            )
    return [rows[0] if rows else None for _, rows in queued]


def _outgoing_rows(
    conversation: Conversation,
    pieces: list[tuple[str, dict]],
    *,
    author: str,
    in_reply_to: Message | None,
    rule_id: int | None,
    is_fallback: bool,
    held: bool,
    sent_by=None,
    human_agent: bool = False,
) -> list[Message]:
    """The rows of an outgoing message's parts, not saved (the first part's first_part is
    left to the caller)."""
    if not pieces:
        raise ValueError("an outgoing message needs text")
    now = timezone.now()
    return [
        Message(
            conversation=conversation,
            direction=Message.Direction.OUTGOING,
            author=author,
            text=chunk,
            content=content,
            human_agent=human_agent,
            in_reply_to=in_reply_to,
            part=number,
            is_last_part=number == len(pieces),
            status=Message.Status.QUEUED,
            # Later parts wait for the part before them (released when it is sent).
            due_at=now if number == 1 else None,
            # This process holds it, to send it itself. Should this worker die first, the
            # others see it held by a dead worker and let it go to the sender's poll.
            claimed_by=this_worker() if number == 1 and held else "",
            rule_id=rule_id,
            is_fallback=is_fallback,
            sent_by=sent_by,
        )
        for number, (chunk, content) in enumerate(pieces, start=1)
    ]


def _pieces(message: messages.Outgoing) -> list[tuple[str, dict]]:
    """The rows one message takes, as (text, content): a text over Meta's 1000 bytes is cut
    into several, its quick replies going with the last (they show under the newest one)."""
    if not isinstance(message, messages.Text):
        return [(messages.summary(message), messages.as_json(message))]
    chunks = graph.split_text(message.text)
    pieces = [(chunk, {}) for chunk in chunks]
    if pieces and message.quick_replies:
        last = messages.Text(chunks[-1], message.quick_replies)
        pieces[-1] = (chunks[-1], messages.as_json(last))
    return pieces
