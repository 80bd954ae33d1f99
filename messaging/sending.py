"""Direct messages in the outbox: the kind "dm" (a bot reply, a staff reply, each part of a
long one). What is the same for every kind (claim, pace, retries, credentials, Meta's errors)
is messaging.outbox's; here is only what a DM adds: takeover, Instagram's windows at the
moment of sending, "typing…", the message and its conversation updated when sent, and the
later parts of a split message released in order.
"""

import logging

from django.db import transaction
from django.utils import timezone
from django_tasks import task

from instabot.logging import log_context
from messaging.models import SENT_BY_US, Conversation, Message
from messaging.outbox import NotSent, OutboxKind, Sent, kind_named, send_now, send_now_many
from messaging.windows import staff_reply_window
from meta import graph

logger = logging.getLogger(__name__)

TAKEN_OVER = "not sent: staff took the conversation over"
# What a reply handed over in hand holds, as load_many reads it (select_related).
CONVERSATION_FIELD = Message._meta.get_field("conversation")
ACCOUNT_FIELD = Conversation._meta.get_field("account")


class DirectMessages(OutboxKind):
    name = "dm"
    label = "Reply"
    model = Message
    account_id_field = "conversation__instagram_account_id"
    account_path = "conversation__account"
    context_field, context_admin = "conversation", "messaging_conversation"

    def rows(self):
        return Message.objects.filter(direction=Message.Direction.OUTGOING)

    def listed(self):
        # What we sent (not echoes of what staff wrote in Instagram's app), less the DMs
        # that are private replies to comments (listed as those).
        return (
            self.rows()
            .filter(author__in=SENT_BY_US)
            .exclude(details__has_key="private_reply_to_comment")
        )

    def load(self, pk: int) -> Message:
        return Message.objects.select_related("conversation__account").get(pk=pk)

    def load_many(self, pks: list[int]) -> dict:
        return Message.objects.select_related("conversation__account").in_bulk(pks)

    def in_hand(self, row: Message) -> bool:
        if not CONVERSATION_FIELD.is_cached(row):
            return False
        conversation = row.conversation
        return conversation.account_id is None or ACCOUNT_FIELD.is_cached(conversation)

    def account(self, row: Message):
        return row.conversation.account

    def account_id(self, row: Message) -> str:
        return row.conversation.instagram_account_id

    def requeue(self, row: Message) -> bool:
        # From its first unsent part: the later parts wait their turn, as when first queued.
        return retry_failed(row)

    def log_context(self, row: Message):
        return log_context(
            account=row.conversation.instagram_account_id, conversation=row.conversation_id
        )

    def prepare(self, row: Message):
        if row.mid:
            # Its echo arrived while an earlier attempt was unanswered: Meta has it already.
            return Sent(row.mid)
        if row.author == Message.Author.BOT and row.conversation.bot_is_paused():
            return NotSent(TAKEN_OVER, Message.Status.CANCELLED)
        if row.author == Message.Author.STAFF:
            # Instagram's windows at the moment of sending, not of queuing: a reply retried
            # past 24 hours goes with the Human Agent tag (if the account may), past 7 days not.
            window = staff_reply_window(row.conversation)
            if not window.open:
                return NotSent(f"not sent: {window.reason}")
            if window.human_agent != row.human_agent:
                row.set_human_agent(window.human_agent)
        return None

    def graph_calls(self, row: Message) -> int:
        return 3 if _shows_typing(row) else 1  # seen and "typing…" take their slots

    def order_key(self, row: Message):
        # A customer's messages go out in order, every part of a long reply after the one
        # before (a later part is not even due until the one before is sent).
        return ("conversation", row.conversation_id)

    def send(self, row: Message, client) -> Sent:
        if _shows_typing(row):
            _show_typing(client, row.conversation.customer_id)
        sent = client.send_message(
            row.conversation.customer_id, row.outgoing(), human_agent=row.human_agent
        )
        return Sent(sent.message_id)

    def sent(self, row: Message, outcome: Sent) -> None:
        self.sent_together([(row, outcome)])

    def sent_together(self, sent: list[tuple[Message, Sent]]) -> None:
        # The messages in one UPDATE, their conversations' activity in another, the next
        # parts of long replies (if any) released in a third.
        rows = [row for row, _ in sent]
        Message.mark_all_sent([(row, outcome.external_id) for row, outcome in sent])
        at = rows[0].timestamp  # the same for all
        Conversation.record_activity_of(
            list({row.conversation_id: row.conversation for row in rows}.values()), at
        )
        Message.release_next_parts(rows, timezone.now())  # the sender's poll takes them
        for row, outcome in sent:
            with self.log_context(row):
                logger.info(
                    "Sent reply %s to %s as %s",
                    row.pk,
                    row.conversation.customer_id,
                    outcome.external_id,
                )

    def not_sent(self, row: Message) -> None:
        if row.status == Message.Status.FAILED:
            # The answer never reached the customer: they need a person (the inbox).
            row.conversation.await_person(row.created_at)
        fail_later_parts(row, row.status)

    def after_stall(self, row: Message):
        # Its echo came meanwhile (matched to it): Meta has it, nothing goes out again.
        # Otherwise we cannot know whether Meta got it (docs/recovery.md, "The duplicate
        # window"): sending again risks a duplicate, not sending a silence. We send again.
        return Sent(row.mid) if row.mid else None


def send_reply(message_id: int) -> None:
    """Send one queued outgoing message at once (a bot reply, once its DM committed)."""
    send_now(kind_named(DirectMessages.name), message_id)


def send_replies(replies: list[Message]) -> None:
    """Send queued outgoing messages at once, together (the bot replies of a batch of
    deliveries): side by side over Meta's kept-alive connections, each customer's in order.
    The rows as the DM path stored them, with their conversations (and accounts, as the DM
    was routed to them): the sender claims them and sends them without reading them again."""
    send_now_many(kind_named(DirectMessages.name), [reply.pk for reply in replies], replies)


@task()
def send_reply_task(message_id: int) -> None:
    """Sends queued by a version that scheduled them as tasks: the outbox's poll sends them
    now, and this finds them sent (or sends one the poll has not reached yet)."""
    send_reply(message_id)


def _shows_typing(message: Message) -> bool:
    """Seen, then "typing…", before the first part of a bot reply, at its first attempt."""
    account = message.conversation.account
    return (
        account is not None
        and account.send_typing
        and message.author == Message.Author.BOT
        and message.part == 1
        and message.attempts == 1
    )


def _show_typing(client: graph.InstagramClient, customer_id: str) -> None:
    """Seen, then "typing…", before a bot reply: Send API calls, whose slots of the account's
    pace the sender took with the reply's (graph_calls). Being cosmetic, a failure is logged,
    never the reply's."""
    for action in ("mark_seen", "typing_on"):
        try:
            client.send_sender_action(customer_id, action)
        except graph.GraphAPIError as exc:
            logger.info("Could not show %s to %s: %s", action, customer_id, exc)
            return


def fail_later_parts(message: Message, status: str = Message.Status.FAILED) -> None:
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
        if not unsent[0].requeue(timezone.now()):
            return False
        for part in unsent[1:]:
            part.requeue(None)  # waits for the part before it, as when first queued
    logger.info("Reply %s queued again by an operator", unsent[0].pk)
    return True
