"""The posts commented on, for the inbox: their link and thumbnail, asked of Instagram by the
worker when no delivery and no reply waits (as customers' usernames are), once per post."""

import logging

from django.utils import timezone

from comments.models import Post
from meta import graph
from meta.display import web_address

logger = logging.getLogger(__name__)

# Posts a worker asks about between two looks for waiting deliveries.
POST_BATCH = 5


def fetch_missing_posts(limit: int = POST_BATCH) -> int:
    """Ask Instagram about posts commented on that it was not asked about yet; return how many
    (0: none is missing). Each is claimed with a conditional UPDATE: asked once."""
    missing = Post.objects.filter(requested_at__isnull=True)
    asked = 0
    for post_id in missing.order_by("-pk").values_list("pk", flat=True)[:limit]:
        if missing.filter(pk=post_id).update(requested_at=timezone.now()):
            _fetch(Post.objects.select_related("account").get(pk=post_id))
            asked += 1
    return asked


def _fetch(post: Post) -> None:
    try:
        media = graph.client_for(post.account).get_media(post.media_id)
    except graph.GraphAPIError as exc:
        logger.info(
            "No details for post %s of %s: %s", post.media_id, post.instagram_account_id, exc
        )
        return
    remember(post.instagram_account_id, media, account=post.account)


def remember(instagram_account_id: str, media: graph.Media, account=None) -> None:
    """Keep what Instagram says of a post (from its media list, or asked alone)."""
    Post.objects.update_or_create(
        instagram_account_id=instagram_account_id,
        media_id=media.id,
        defaults={
            "account": account,
            "caption": media.caption,
            "media_product_type": media.media_product_type,
            "permalink": web_address(media.permalink)[:500],
            "thumbnail_url": web_address(media.thumbnail_url)[:2000],
            "published_at": media.timestamp[:32],
            "requested_at": timezone.now(),
        },
    )
