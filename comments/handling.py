"""A comment from a delivery, in the delivery's event transaction (messaging.events dispatches
it here, as CommentsConfig.ready registered; a mention goes to comments.mentions): stored once,
matched against the comment rules, and its replies queued for the worker (comments.replying
sends them, under Meta's limits).

Comments the business wrote itself (its public replies among them) are stored, never acted on.
"""

import logging
import random

from django.db import IntegrityError, transaction
from django.utils import timezone

from comments.choosing import choose_comment_rule
from comments.models import (
    PRIVATE_REPLY_WINDOW,
    Comment,
    CommentReply,
    CommentRule,
    Post,
)
from comments.payloads import CommentEvent
from instabot.logging import log_context
from messaging.models import Conversation
from messaging.payloads import MessageEvent

logger = logging.getLogger(__name__)


def handle_comment(event: CommentEvent, account) -> None:
    with log_context(comment=event.comment_id):
        comment = _store(event, account)
        if comment is None:
            logger.info("Comment %s was delivered again: already stored", event.comment_id)
            return
        if event.by_the_account or _is_our_public_reply(event):
            comment.skip("written by the account itself")
            logger.info("Comment %s is the account's own: not acted on", event.comment_id)
            return
        rule = choose_comment_rule(account, comment)
        if rule is None:
            comment.skip("no comment rule matches")
            logger.info("Comment %s: no comment rule matches", event.comment_id)
            return
        queue_replies(comment, rule)


def _is_our_public_reply(event: CommentEvent) -> bool:
    """A comment that is one of our own public replies, whoever Meta names as its author: the
    service never answers itself."""
    if not event.parent_id:
        return False  # our public replies are replies to a comment
    return CommentReply.objects.filter(
        kind=CommentReply.Kind.PUBLIC,
        instagram_account_id=event.account_id,
        external_id=event.comment_id,
    ).exists()


def _store(event: CommentEvent, account) -> Comment | None:
    """The new comment, or None when it was stored before."""
    post = None
    if event.media_id:
        # Asked of Instagram later, once (comments.posts), for the inbox's link and thumbnail.
        post, _ = Post.objects.get_or_create(
            instagram_account_id=event.account_id,
            media_id=event.media_id,
            defaults={"account": account, "media_product_type": event.media_product_type},
        )
    try:
        # A savepoint: a duplicate must not break the event's transaction.
        with transaction.atomic():
            return Comment.objects.create(
                post=post,
                comment_id=event.comment_id,
                instagram_account_id=event.account_id,
                account=account,
                media_id=event.media_id,
                media_product_type=event.media_product_type,
                is_live=event.is_live,
                parent_id=event.parent_id,
                author_id=event.author_id,
                author_username=event.author_username,
                text=event.text,
                commented_at=event.timestamp,
                ad_id=event.ad_id,
                ad_title=event.ad_title,
            )
    except IntegrityError:
        stored_for = Comment.objects.filter(comment_id=event.comment_id)
        if stored_for.filter(instagram_account_id=event.account_id).exists():
            return None
        if stored_for.exists():
            # Comment ids are unique: another account's comment is not this event's to touch.
            logger.warning(
                "Comment %s for account %s has the id of another account's comment: not stored",
                event.comment_id,
                event.account_id,
            )
            return None
        raise


def queue_replies(comment: Comment, rule: CommentRule) -> list[CommentReply]:
    """Queue the rule's replies to the comment (the worker sends them)."""
    replies, reasons = [], []
    if text := rule.private_reply_text.strip():
        if not comment.is_live and timezone.now() - comment.commented_at > PRIVATE_REPLY_WINDOW:
            reasons.append("older than the 7 days Meta takes private replies in")
        elif silence := _bot_silence_with(comment):
            # Staff are talking with this person (or paused the bot): no automatic DM.
            reasons.append(f"no private reply: the bot is silent with this person ({silence})")
        else:
            replies.append(CommentReply(kind=CommentReply.Kind.PRIVATE, text=text))
    if variants := rule.public_reply_variants():
        # Picked at random: identical replies in bulk look like spam to Meta.
        replies.append(CommentReply(kind=CommentReply.Kind.PUBLIC, text=random.choice(variants)))
    Comment.objects.filter(pk=comment.pk).update(rule=rule, status_reason="; ".join(reasons))
    if not replies:
        comment.skip("; ".join(reasons))
        return []
    for reply in replies:
        reply.comment = comment
        reply.instagram_account_id = comment.instagram_account_id
        reply.account = comment.account
        reply.commented_at = comment.commented_at
        reply.is_live = comment.is_live
        reply.rule = rule
    CommentReply.objects.bulk_create(replies)
    logger.info(
        "Comment %s matched comment rule %s: queued %s",
        comment.comment_id,
        rule.pk,
        " and ".join(f"a {reply.kind} reply" for reply in replies),
    )
    return replies


def _bot_silence_with(comment: Comment) -> str:
    conversation = Conversation.objects.filter(
        instagram_account_id=comment.instagram_account_id, customer_id=comment.author_id
    ).first()
    return conversation.bot_silence_reason() if conversation else ""


def is_private_reply_echo(event: MessageEvent) -> bool:
    """Whether an echo is of a private reply whose send has not returned yet.

    Its sender records it once Meta answers; taken for a message staff wrote in the Instagram
    app, it would silence the bot in the very conversation the private reply opens.
    """
    return CommentReply.objects.filter(
        status=CommentReply.Status.SENDING,
        kind=CommentReply.Kind.PRIVATE,
        instagram_account_id=event.account_id,
        text=event.text.strip(),
    ).exists()
