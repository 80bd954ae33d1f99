"""Deciding what to answer, and queuing outgoing messages: the bot's replies (rules, fallback,
cooldown, the 24-hour window, takeover) and staff replies from the inbox, the admin or the API.

Everything here runs in the caller's transaction: a bot reply commits with the message it
answers, and a staff reply with the bot's step back.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import InstagramBusinessAccount
from instabot.logging import log_context
from messaging.models import Conversation, Message
from messaging.payloads import MessageEvent, Postback
from messaging.sending import TAKEN_OVER, enqueue_send
from messaging.worker_identity import this_worker
from meta import graph
from rules.matching import Reply, choose_reply, fallback_text

logger = logging.getLogger(__name__)

# Instagram lets a business answer for 24 hours after the customer's last message.
MESSAGING_WINDOW = timedelta(hours=24)


def decide_reply(
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
        return None, f"the bot is silent here: {conversation.bot_silence_reason()}"
    if (
        isinstance(event, MessageEvent)
        and event.found_by
        and _business_wrote_since(conversation, message)
    ):
        return None, f"found late ({event.found_by}), and the business has written since"

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
    since = now - timedelta(hours=settings.FALLBACK_COOLDOWN_HOURS)
    return (
        conversation.messages.filter(is_fallback=True, part=1, created_at__gte=since)
        .exclude(status__in=[Message.Status.FAILED, Message.Status.CANCELLED])
        .exists()
    )


def queue_bot_reply(conversation: Conversation, reply: Reply, in_reply_to: Message) -> Message:
    """Store the bot's reply, queued; returned for the caller to send once its transaction
    commits (no task is queued for it)."""
    parts = queue_outgoing(
        conversation,
        reply.text,
        author=Message.Author.BOT,
        in_reply_to=in_reply_to,
        rule_id=reply.rule.id if reply.rule else None,
        is_fallback=reply.is_fallback,
        queue_send=False,
    )
    return parts[0]


def send_staff_reply(conversation: Conversation, text: str, user) -> list[Message]:
    """Staff answer from the inbox: through the same queue and Graph client as the bot.

    The bot then stays silent in this conversation for HUMAN_TAKEOVER_HOURS.
    """
    with staff_log_context(conversation), transaction.atomic():
        parts = queue_outgoing(conversation, text, author=Message.Author.STAFF, sent_by=user)
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
        status=Message.Status.CANCELLED, last_error=TAKEN_OVER, next_attempt_at=None
    )


def queue_outgoing(
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
                # No task for it: this process holds it, to send it itself. Should this worker
                # die first, the others see it held by a dead worker and queue it.
                claimed_by=this_worker() if number == 1 and not queue_send else "",
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
