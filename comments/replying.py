"""Sending the queued replies to comments, under Meta's limits, from the worker's delivery loop.

Why there, a few at a time: a viral post queues thousands of replies that may only go out at
750 an hour. Each pass of the delivery loop takes the waiting deliveries first, then sends at
most REPLIES_PER_PASS due replies, so DMs to the same account keep being answered within a
handful of Graph calls, and a backlog costs no task rows and no polling of its own: replies
over the hourly limit wait in their table (WAITING, due when the hour frees a slot), oldest
comment first. Claims are conditional UPDATEs under the account's quota row lock
(CommentReply.claim_due), so no reply goes twice and the limit holds across workers.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import InstagramBusinessAccount
from comments.mentions import sweep_stalled_mention_replies
from comments.models import Comment, CommentReply
from instabot.logging import log_context
from messaging.models import Conversation, Message
from messaging.sending import retry_delay
from meta import graph

logger = logging.getLogger(__name__)

# Due replies one pass of the delivery loop sends, at most: the waiting DMs come between passes.
REPLIES_PER_PASS = 10
# Queues (account and kind) one pass looks at, at most.
QUEUES_PER_PASS = 20


def per_hour(kind: str) -> int:
    if kind == CommentReply.Kind.PRIVATE:
        return settings.COMMENT_PRIVATE_REPLIES_PER_HOUR
    return settings.COMMENT_PUBLIC_REPLIES_PER_HOUR


def send_due_replies(batch: int = REPLIES_PER_PASS) -> int:
    """Claim and send up to `batch` due replies. Returns how many were claimed (0: none due,
    or every account with some due has used its hour)."""
    due = CommentReply.objects.filter(status__in=CommentReply.CLAIMABLE, due_at__lte=timezone.now())
    queues = due.order_by().values_list("instagram_account_id", "kind").distinct()
    done = 0
    for instagram_account_id, kind in list(queues[:QUEUES_PER_PASS]):
        for pk in CommentReply.claim_due(instagram_account_id, kind, per_hour(kind), batch - done):
            send_claimed(pk)
            done += 1
        if done >= batch:
            break
    return done


def send_claimed(reply_id: int) -> None:
    """Make the Graph call of a reply this worker claimed, and record what Meta answered."""
    reply = CommentReply.objects.select_related("comment", "account").get(pk=reply_id)
    account = reply.account
    with log_context(account=reply.instagram_account_id, comment=reply.comment.comment_id):
        if account is not None and account.token_is_invalid:
            since = f"{account.token_invalid_since:%Y-%m-%d %H:%M} UTC"
            _finish(
                reply,
                CommentReply.Status.FAILED,
                f"not sent: the access token is invalid since {since}",
            )
            return
        client = graph.client_for(account)
        try:
            if reply.kind == CommentReply.Kind.PRIVATE:
                sent = client.send_private_reply(
                    private_reply_node(account), reply.comment.comment_id, reply.text
                )
            else:
                # Instagram threads are one level deep: a reply to a reply joins its thread.
                target = reply.comment.parent_id or reply.comment.comment_id
                public_id = client.reply_to_comment(target, reply.text)
        except graph.InvalidTokenError as exc:
            logger.error(
                "CREDENTIALS PROBLEM: the Graph API rejected the access token for account %s; "
                "its replies fail until the token is replaced. Comment reply %s failed: %s",
                reply.instagram_account_id,
                reply.pk,
                exc,
            )
            if account is not None:
                account.mark_token_invalid(str(exc))
            _finish(reply, CommentReply.Status.FAILED, f"invalid access token: {exc}")
        except graph.AlreadyRepliedError as exc:
            logger.info("Comment reply %s: Meta says it was answered already (%s)", reply.pk, exc)
            _finish(reply, CommentReply.Status.ALREADY_SENT, f"answered already: {exc}")
        except graph.CommentTooOldError as exc:
            _finish(reply, CommentReply.Status.FAILED, f"too late for a private reply: {exc}")
        except graph.PermanentGraphAPIError as exc:
            logger.warning("Comment reply %s failed for good: %s", reply.pk, exc)
            _finish(reply, CommentReply.Status.FAILED, str(exc))
        except graph.RateLimitedError as exc:
            # Meta is throttling the account: this kind of reply waits, none is dropped.
            until = timezone.now() + timedelta(seconds=settings.SEND_RATE_LIMIT_PAUSE)
            logger.warning(
                "Meta is rate-limiting %s replies of account %s until %s: %s",
                reply.kind,
                reply.instagram_account_id,
                until,
                exc,
            )
            with transaction.atomic():
                reply.put_back(until, str(exc))
                CommentReply.wait_for_meta(reply.instagram_account_id, reply.kind, until)
            reply.comment.refresh_status()
        except graph.TransientGraphAPIError as exc:
            _retry_or_fail(reply, str(exc))
        else:
            if reply.kind == CommentReply.Kind.PRIVATE:
                finish_private_reply(reply, sent)
            else:
                with transaction.atomic():
                    reply.mark_sent(public_id)
                    reply.comment.refresh_status()
                logger.info("Replied publicly to comment %s", reply.comment.comment_id)


def private_reply_node(account: InstagramBusinessAccount | None) -> str:
    """Where a private reply is posted: the Facebook Page with Facebook Login (Meta answers
    "(#3)" on the Instagram account's node there), the Instagram account with Instagram
    Login. A Page token's "me" is its Page (the environment's single account)."""
    if account is None:
        return "me"
    if account.api == InstagramBusinessAccount.Api.INSTAGRAM_LOGIN:
        return account.instagram_id
    return account.page_id or "me"


def finish_private_reply(reply: CommentReply, sent: graph.SentMessage) -> None:
    """Sent: the DM joins the conversation with the commenter (created if new), which is
    linked to the comment. It is the bot's message there, so its echo is recognised as ours;
    the commenter's answer then opens the 24-hour window like any DM."""
    comment = reply.comment
    customer_id = sent.recipient_id or comment.author_id
    now = timezone.now()
    with transaction.atomic():
        if not reply.mark_sent(sent.message_id, customer_id):
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
                    mid=sent.message_id,
                    text=reply.text,
                    timestamp=now,
                    attempts=reply.attempts,
                    details={"private_reply_to_comment": comment.comment_id},
                )
        except IntegrityError:
            logger.warning("Private reply %s: its message id was stored already", reply.pk)
        conversation.record_activity(now)
        Comment.objects.filter(pk=comment.pk).update(conversation=conversation)
        comment.refresh_status()
    logger.info(
        "Replied privately to comment %s: message %s to %s",
        comment.comment_id,
        sent.message_id,
        customer_id,
    )


def _finish(reply: CommentReply, status: str, reason: str) -> None:
    with transaction.atomic():
        reply.finish(status, reason)
        reply.comment.refresh_status()


def _retry_or_fail(reply: CommentReply, reason: str) -> None:
    if reply.attempts >= settings.SEND_MAX_ATTEMPTS:
        logger.warning("Comment reply %s failed after %d attempts", reply.pk, reply.attempts)
        _finish(
            reply, CommentReply.Status.FAILED, f"gave up after {reply.attempts} attempts: {reason}"
        )
        return
    at = timezone.now() + timedelta(seconds=retry_delay(reply.attempts))
    reply.retry_at(at, reason)
    logger.info(
        "Comment reply %s: attempt %d failed (%s); again at %s",
        reply.pk,
        reply.attempts,
        reason,
        at,
    )


def sweep_stalled_replies(now=None) -> int:
    """Replies whose worker was killed mid-send (claimed long ago, still sending). A private
    reply is tried again: Meta refuses a second one for a comment, so it cannot arrive twice.
    A public reply could, so it is given up with the reason. Returns how many."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.REPLY_STALLED_AFTER)
    stalled = CommentReply.objects.filter(
        status=CommentReply.Status.SENDING, claimed_at__lt=cutoff
    ).select_related("comment")
    swept = 0
    for reply in stalled[:1000]:
        stopped = "the worker stopped during the send"
        if reply.kind == CommentReply.Kind.PRIVATE:
            reply.retry_at(now, f"{stopped}; trying again (Meta refuses a second one)")
        else:
            reply.finish(
                CommentReply.Status.FAILED, f"{stopped}; not tried again (it could appear twice)"
            )
        reply.comment.refresh_status()
        swept += 1
    if swept:
        logger.warning("Swept %d comment replies whose worker stopped mid-send", swept)
    return swept + sweep_stalled_mention_replies(now)
