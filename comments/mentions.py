"""Mentions of an account: recorded from a delivery, in its event transaction, and answered in
public by the worker when a mention rule says so.

The webhook carries ids only, so what a mention says is read from Instagram by the worker,
after the event's transaction, never in the request. When the account has an active mention
rule, recording writes the reply's row (MentionReply, one per mention: a redelivery, however
concurrent, finds it there), an outbox row: the one sender (messaging.outbox) claims it, and
this kind's adapter reads the mentioning comment (or caption), picks the rule by the one
keyword matcher, records the variant, then posts it. Meta has no private reply to a mention.
"""

import logging
import random

from comments.choosing import active_rules, choose_mention_rule
from comments.models import CommentReply, CommentRule, Mention, MentionReply
from comments.payloads import MentionEvent
from comments.posts import web_address
from comments.replying import PUBLIC_REPLIES
from instabot.logging import log_context
from messaging.models import OutboxStatus
from messaging.outbox import NotSent, OutboxKind, Sent
from meta import graph

logger = logging.getLogger(__name__)


def record_mention(event: MentionEvent, account) -> None:
    """Store the mention once; queue its answer if a mention rule could give one."""
    mention, created = Mention.objects.get_or_create(
        instagram_account_id=event.account_id,
        media_id=event.media_id,
        comment_id=event.comment_id,
        defaults={"account": account, "mentioned_at": event.timestamp},
    )
    logger.info(
        "Account %s was mentioned on %s%s",
        event.account_id,
        event.media_id,
        "" if created else " (delivered again)",
    )
    if not created:
        return
    if not active_rules(account).filter(scope=CommentRule.Scope.MENTION).exists():
        return  # recorded only
    # The mention is new in this transaction: a concurrent redelivery waits on its unique
    # row, then finds it (not created), so one reply row is written.
    MentionReply.objects.create(
        mention=mention, instagram_account_id=event.account_id, account=account
    )


class MentionReplies(OutboxKind):
    """The kind "mention_reply": read the mention, choose the rule and the variant, post it."""

    name = "mention_reply"
    label = "Mention reply"
    model = MentionReply
    context_field, context_admin = "mention", "comments_mention"
    # A mention's answer is a public comment: it shares the public replies' hour.
    hourly_limit = PUBLIC_REPLIES
    given_up_after_stall = (
        "the worker stopped while answering; not tried again (it could appear twice)"
    )
    # Its send reads Instagram, then the database (the mention, the rule), then posts: it
    # runs in the pass's thread, after the round's other calls.
    concurrent = False

    def load(self, pk: int) -> MentionReply:
        return MentionReply.objects.select_related("mention", "account").get(pk=pk)

    def log_context(self, row):
        return log_context(account=row.instagram_account_id, mention=row.mention_id)

    def send(self, row: MentionReply, client):
        mention, account = row.mention, row.account
        _read(client, mention)
        if why := _not_to_answer(mention, account):
            return NotSent(why, OutboxStatus.CANCELLED)
        rule = choose_mention_rule(account, mention.text)
        if rule is None or not rule.public_reply_variants():
            return NotSent("no mention rule matches", OutboxStatus.CANCELLED)
        # Picked at random: identical replies in bulk look like spam to Meta.
        if not row.choose(rule, random.choice(rule.public_reply_variants())):
            return NotSent("changed state meanwhile", OutboxStatus.CANCELLED)
        return Sent(
            client.reply_to_mention(
                mention.instagram_account_id, mention.media_id, mention.comment_id, row.text
            )
        )

    def sent(self, row: MentionReply, outcome: Sent) -> None:
        row.mark_sent(outcome.external_id)
        logger.info(
            "Answered mention %s in public: comment %s", row.mention_id, outcome.external_id
        )


def _read(client: graph.InstagramClient, mention: Mention) -> None:
    """What the mention says, who wrote it and where, from Instagram, kept on the mention."""
    if mention.comment_id:
        read = client.get_mentioned_comment(mention.instagram_account_id, mention.comment_id)
        text = read.text
    else:
        read = client.get_mentioned_media(mention.instagram_account_id, mention.media_id)
        text = read.caption
    mention.text, mention.author_username = text, read.username[:64]
    mention.permalink = web_address(read.permalink)[:500]
    Mention.objects.filter(pk=mention.pk).update(
        text=mention.text, author_username=mention.author_username, permalink=mention.permalink
    )


def _not_to_answer(mention: Mention, account) -> str:
    """Why the mention is the account's own (its own comment or caption, or one of the
    service's replies mentioning it): never answered. "" if it is someone else's."""
    own_username = account.username if account is not None else ""
    if own_username and mention.author_username.casefold() == own_username.casefold():
        return "written by the account itself"
    if mention.comment_id and (
        MentionReply.objects.filter(external_id=mention.comment_id).exists()
        or CommentReply.objects.filter(
            kind=CommentReply.Kind.PUBLIC,
            instagram_account_id=mention.instagram_account_id,
            external_id=mention.comment_id,
        ).exists()
    ):
        return "one of the account's own replies"
    return ""
