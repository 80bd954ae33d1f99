"""Mentions of an account: recorded from a delivery, in its event transaction, and answered in
public by the worker when a mention rule says so.

The webhook carries ids only, so what a mention says is read from Instagram by the worker,
after the event's transaction, never in the request. When the account has an active mention
rule, recording writes the reply's row (MentionReply, one per mention: a redelivery, however
concurrent, finds it there); the worker claims it with a conditional UPDATE, reads the
mentioning comment (or caption), picks the rule by the one keyword matcher, records the
variant, then posts it. Meta has no private reply to a mention: none is sent.
"""

import logging
import random
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from comments.choosing import active_rules, choose_mention_rule
from comments.models import CommentReply, CommentRule, Mention, MentionReply
from comments.payloads import MentionEvent
from comments.posts import web_address
from instabot.logging import log_context
from messaging.sending import retry_delay
from meta import graph

logger = logging.getLogger(__name__)

# Mentions one pass of the delivery loop answers, at most, and accounts it looks at.
MENTIONS_PER_PASS = 10
QUEUES_PER_PASS = 20


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


def answer_due_mentions(batch: int = MENTIONS_PER_PASS) -> int:
    """Claim and answer up to `batch` due mentions, within each account's hourly limit of
    public replies; returns how many were claimed (0: none due, or every hour used)."""
    due = MentionReply.objects.filter(status=MentionReply.Status.QUEUED, due_at__lte=timezone.now())
    accounts = due.order_by().values_list("instagram_account_id", flat=True).distinct()
    per_hour = settings.COMMENT_PUBLIC_REPLIES_PER_HOUR
    done = 0
    for instagram_account_id in list(accounts[:QUEUES_PER_PASS]):
        for pk in MentionReply.claim_due(instagram_account_id, per_hour, batch - done):
            answer(MentionReply.objects.select_related("mention", "account").get(pk=pk))
            done += 1
        if done >= batch:
            break
    return done


def answer(reply: MentionReply) -> None:
    """Read the mention, choose the rule and the variant, post it: a reply this worker claimed."""
    mention, account = reply.mention, reply.account
    with log_context(account=reply.instagram_account_id, mention=mention.pk):
        if account is not None and account.token_is_invalid:
            since = f"{account.token_invalid_since:%Y-%m-%d %H:%M} UTC"
            reply.finish(
                MentionReply.Status.FAILED, f"not sent: the access token is invalid since {since}"
            )
            return
        client = graph.client_for(account)
        try:
            _read(client, mention)
            if why := _not_to_answer(mention, account):
                reply.finish(MentionReply.Status.SKIPPED, why)
                logger.info("Mention %s not answered: %s", mention.pk, why)
                return
            rule = choose_mention_rule(account, mention.text)
            if rule is None or not rule.public_reply_variants():
                reply.finish(MentionReply.Status.SKIPPED, "no mention rule matches")
                logger.info("Mention %s: no mention rule matches", mention.pk)
                return
            # Picked at random: identical replies in bulk look like spam to Meta.
            if not reply.choose(rule, random.choice(rule.public_reply_variants())):
                return
            public_id = client.reply_to_mention(
                mention.instagram_account_id, mention.media_id, mention.comment_id, reply.text
            )
        except graph.InvalidTokenError as exc:
            logger.error(
                "CREDENTIALS PROBLEM: the Graph API rejected the access token for account %s; "
                "its replies fail until the token is replaced. Mention reply %s failed: %s",
                reply.instagram_account_id,
                reply.pk,
                exc,
            )
            if account is not None:
                account.mark_token_invalid(str(exc))
            reply.finish(MentionReply.Status.FAILED, f"invalid access token: {exc}")
        except graph.PermanentGraphAPIError as exc:
            logger.warning("Mention reply %s failed for good: %s", reply.pk, exc)
            reply.finish(MentionReply.Status.FAILED, str(exc))
        except graph.RateLimitedError as exc:
            # Meta is throttling the account: the answer waits, it is not dropped.
            until = timezone.now() + timedelta(seconds=settings.SEND_RATE_LIMIT_PAUSE)
            logger.warning("Meta is rate-limiting mention reply %s until %s", reply.pk, until)
            reply.retry_at(until, str(exc))
        except graph.TransientGraphAPIError as exc:
            _retry_or_fail(reply, str(exc))
        else:
            reply.mark_sent(public_id)
            logger.info("Answered mention %s in public: comment %s", mention.pk, public_id)


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


def _retry_or_fail(reply: MentionReply, reason: str) -> None:
    if reply.attempts >= settings.SEND_MAX_ATTEMPTS:
        logger.warning("Mention reply %s failed after %d attempts", reply.pk, reply.attempts)
        reply.finish(
            MentionReply.Status.FAILED, f"gave up after {reply.attempts} attempts: {reason}"
        )
        return
    at = timezone.now() + timedelta(seconds=retry_delay(reply.attempts))
    reply.retry_at(at, reason)
    logger.info("Mention reply %s: attempt %d failed (%s)", reply.pk, reply.attempts, reason)


def sweep_stalled_mention_replies(now=None) -> int:
    """Replies whose worker was killed mid-answer: given up with the reason (a public reply
    tried again could appear twice). Returns how many."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.REPLY_STALLED_AFTER)
    stalled = MentionReply.objects.filter(status=MentionReply.Status.SENDING, claimed_at__lt=cutoff)
    swept = stalled.update(
        status=MentionReply.Status.FAILED,
        last_error="the worker stopped while answering; not tried again (it could appear twice)",
    )
    if swept:
        logger.warning("Swept %d mention replies whose worker stopped mid-answer", swept)
    return swept
