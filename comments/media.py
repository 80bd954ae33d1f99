"""The account's posts, from the Graph API: for staff picking a rule's post, and for a rule
waiting for the next post (which of the posts it must not take for the next one)."""

import logging

from accounts.encryption import EncryptionKeyError
from comments.models import CommentRule
from comments.posts import remember
from meta import graph

logger = logging.getLogger(__name__)

# A rule waiting for the next post remembers this many of the newest posts as "not it".
KNOWN_POSTS = 100


def account_media(account, limit: int = 25) -> list[graph.Media]:
    """The account's newest posts and reels (kept for the inbox too). Raises
    graph.GraphAPIError."""
    posts = graph.client_for(account).list_media(account.instagram_id, limit=limit)
    for media in posts:
        remember(account.instagram_id, media, account=account)
    return posts


def prepare_to_save(rule: CommentRule, previous: CommentRule | None) -> str:
    """Before a rule is saved: one that begins waiting for the next post learns the posts the
    account has now. Returns a warning for staff, or ""."""
    if rule.scope != CommentRule.Scope.NEXT_POST:
        rule.armed_at, rule.media_known_at_arming = None, []
        return ""
    waiting_already = (
        previous is not None
        and previous.scope == CommentRule.Scope.NEXT_POST
        and not (previous.media_id and not rule.media_id)  # staff cleared the post: wait again
    )
    if waiting_already:
        return ""
    try:
        posts = [media.id for media in account_media(rule.account, limit=KNOWN_POSTS)]
    except (graph.GraphAPIError, EncryptionKeyError) as exc:
        logger.warning("Could not list the posts of %s for a comment rule: %s", rule.account, exc)
        rule.arm_for_next_post([])
        return (
            f"The account's posts could not be listed ({exc}): the rule takes the first post "
            "commented on that had no comment before now."
        )
    rule.arm_for_next_post(posts)
    return ""
