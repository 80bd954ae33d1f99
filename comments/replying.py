"""Replies to comments in the outbox: the kinds "private_reply" (a DM to the commenter) and
"public_reply" (under the comment). messaging.outbox claims and sends them with every other
kind of send, under the account's hourly limits (COMMENT_PRIVATE_REPLIES_PER_HOUR,
COMMENT_PUBLIC_REPLIES_PER_HOUR); here is only what a reply to a comment adds: its Graph call,
Meta's 7 days, and what "sent" updates (the comment's status, the DM's conversation).

A viral post queues thousands of replies that may only go out at 750 an hour: over the limit
they wait in their table, oldest comment first, and the sender's pass takes a few at a time, so
DMs to the same account keep being answered between them.
"""

import logging

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import InstagramBusinessAccount
from comments.models import PRIVATE_REPLY_WINDOW, Comment, CommentReply
from instabot.logging import log_context
from messaging import hooks
from messaging.models import Conversation, Message
from messaging.outbox import HourlyLimit, NotSent, OutboxKind, Sent
from meta import graph

logger = logging.getLogger(__name__)

PRIVATE_REPLIES = HourlyLimit("private replies", "COMMENT_PRIVATE_REPLIES_PER_HOUR")
# Replies to mentions are public comments too: they share this hour (comments.mentions).
PUBLIC_REPLIES = HourlyLimit("public replies", "COMMENT_PUBLIC_REPLIES_PER_HOUR")


class RepliesToComments(OutboxKind):
    model = CommentReply
    context_field, context_admin = "comment", "comments_comment"
    reply_kind: str
    queue_order = ("commented_at", "pk")

    def load(self, pk: int) -> CommentReply:
        return CommentReply.objects.select_related("comment", "account").get(pk=pk)

    def describe(self, row) -> str:
        return f"Comment reply {row.pk}"

    def log_context(self, row):
        return log_context(account=row.instagram_account_id, comment=row.comment.comment_id)

    def changed(self, row) -> None:
        row.comment.refresh_status()

    def waiting(self, rows) -> None:
        # The comments first: once updated, the replies no longer match `rows` (a subquery
        # of thousands of ids, not a list of them: SQLite caps a query's parameters).
        Comment.objects.filter(
            pk__in=rows.values("comment_id"), status=Comment.Status.PENDING
        ).update(status=Comment.Status.WAITING)


class PrivateReplies(RepliesToComments):
    name = "private_reply"
    label = "Private reply"
    reply_kind = CommentReply.Kind.PRIVATE
    discriminator = ("kind", reply_kind)
    hourly_limit = PRIVATE_REPLIES
    # Live comments' private replies fall under Meta's per-second limit, not the hourly one.
    exempt_from_hour = Q(is_live=True)

    def prepare(self, row: CommentReply):
        if not row.is_live and timezone.now() - row.commented_at > PRIVATE_REPLY_WINDOW:
            return NotSent("not sent: Meta takes private replies within 7 days of the comment")
        return None

    def send(self, row: CommentReply, client):
        try:
            sent = client.send_private_reply(
                private_reply_node(row.account), row.comment.comment_id, row.text
            )
        except graph.AlreadyRepliedError as exc:
            logger.info("Comment reply %s: Meta says it was answered already (%s)", row.pk, exc)
            return Sent("", note=f"answered already: {exc}")
        except graph.CommentTooOldError as exc:
            return NotSent(f"too late for a private reply: {exc}")
        return Sent(sent.message_id, recipient_id=sent.recipient_id)

    def sent(self, row: CommentReply, outcome: Sent) -> None:
        if outcome.external_id:
            finish_private_reply(row, outcome)
        else:
            row.mark_sent("", note=outcome.note)
        announce_answer(row)

    def after_stall(self, row):
        # Tried again: Meta refuses a second private reply to a comment, so it cannot arrive
        # twice.
        return None


class PublicReplies(RepliesToComments):
    name = "public_reply"
    label = "Public reply"
    reply_kind = CommentReply.Kind.PUBLIC
    discriminator = ("kind", reply_kind)
    hourly_limit = PUBLIC_REPLIES
    given_up_after_stall = (
        "the worker stopped during the send; not tried again (it could appear twice)"
    )

    def send(self, row: CommentReply, client):
        # Instagram threads are one level deep: a reply to a reply joins its thread.
        target = row.comment.parent_id or row.comment.comment_id
        return Sent(client.reply_to_comment(target, row.text))

    def sent(self, row: CommentReply, outcome: Sent) -> None:
        row.mark_sent(outcome.external_id)
        logger.info("Replied publicly to comment %s", row.comment.comment_id)
        announce_answer(row)


def announce_answer(row: CommentReply) -> None:
    """The business event "comment.answered" (outgoing webhooks)."""
    comment = row.comment
    data = {
        "comment_id": comment.comment_id,
        "customer_id": comment.author_id,
        "username": comment.author_username,
        "comment": comment.text,
        "reply": row.kind,
        "text": row.text,
    }
    hooks.business_event("comment.answered", row.account_id, data)


def private_reply_node(account: InstagramBusinessAccount | None) -> str:
    """Where a private reply is posted: the Facebook Page with Facebook Login (Meta answers
    "(#3)" on the Instagram account's node there), the Instagram account with Instagram
    Login. A Page token's "me" is its Page (the environment's single account)."""
    if account is None:
        return "me"
    if account.api == InstagramBusinessAccount.Api.INSTAGRAM_LOGIN:
        return account.instagram_id
    return account.page_id or "me"


def finish_private_reply(reply: CommentReply, sent: Sent) -> None:
    """Sent: the DM joins the conversation with the commenter (created if new), which is
    linked to the comment. It is the bot's message there, so its echo is recognised as ours;
    the commenter's answer then opens the 24-hour window like any DM. In the sender's
    transaction."""
    comment = reply.comment
    customer_id = sent.recipient_id or comment.author_id
    now = timezone.now()
    if not reply.mark_sent(sent.external_id, customer_id):
        return
    conversation, _ = Conversation.objects.get_or_create(
        instagram_account_id=comment.instagram_account_id,
        customer_id=customer_id,
        defaults={"account": reply.account, "last_message_at": now},
    )
    try:
        with transaction.atomic():
            Message.objects.create(
                conversation=conversation,
                direction=Message.Direction.OUTGOING,
                author=Message.Author.BOT,
                status=Message.Status.SENT,
                mid=sent.external_id,
                text=reply.text,
                timestamp=now,
                attempts=reply.attempts,
                details={"private_reply_to_comment": comment.comment_id},
            )
    except IntegrityError:
        logger.warning("Private reply %s: its message id was stored already", reply.pk)
    conversation.record_activity(now)
    Comment.objects.filter(pk=comment.pk).update(conversation=conversation)
    logger.info(
        "Replied privately to comment %s: message %s to %s",
        comment.comment_id,
        sent.external_id,
        customer_id,
    )
