"""Comments and mentions as Meta's webhook sends them (`entry[].changes[]` items of the fields
`comments`, `live_comments` and `mentions`), parsed once at the edge into small typed objects.
Registered with the core's changes[] reader (messaging.hooks) in CommentsConfig.ready."""

from dataclasses import dataclass
from datetime import datetime

from messaging.payloads import EventError
from messaging.payloads.changes import change_time
from messaging.payloads.fields import as_object, meta_id, optional_id, string

COMMENT_FIELDS = frozenset({"comments", "live_comments"})
MENTION_FIELDS = frozenset({"mentions"})


@dataclass(frozen=True, kw_only=True)
class CommentEvent:
    """A comment on one of the account's posts or reels (`comments`), or on its live
    broadcast (`live_comments`): from `entry[].changes[]`."""

    account_id: str  # entry[].id
    comment_id: str
    text: str = ""
    author_id: str  # from.id: the commenter (the account's own id for its own comments)
    author_username: str = ""
    media_id: str = ""
    media_product_type: str = ""  # FEED, REELS, AD, STORY, ...
    parent_id: str = ""  # set: a reply to another comment
    ad_id: str = ""
    ad_title: str = ""
    is_live: bool = False
    # entry[].time: the comment's own payload carries no time.
    timestamp: datetime

    @property
    def by_the_account(self) -> bool:
        """Written by the business itself (its replies among them): never acted upon."""
        return self.author_id == self.account_id


@dataclass(frozen=True, kw_only=True)
class MentionEvent:
    """The account was @mentioned in a comment (comment_id set) or a caption."""

    account_id: str
    media_id: str
    comment_id: str = ""
    timestamp: datetime


def parse_change(value: dict, account_id: str, entry_time, field: str):
    """A `comments`, `live_comments` or `mentions` change's value as its event."""
    if field in MENTION_FIELDS:
        return MentionEvent(
            account_id=account_id,
            media_id=meta_id(value.get("media_id"), "media_id"),
            comment_id=optional_id(value, "comment_id"),
            timestamp=change_time(entry_time),
        )
    return _parse_comment(value, account_id, entry_time, is_live=field == "live_comments")


def _parse_comment(value: dict, account_id: str, entry_time, *, is_live: bool) -> CommentEvent:
    author = as_object(value, "from")
    media = value.get("media") or {}
    if not isinstance(media, dict):
        raise EventError('"media" is not an object')
    comment_id = value.get("id", value.get("comment_id"))
    return CommentEvent(
        account_id=account_id,
        comment_id=meta_id(comment_id, "id"),
        text=string(value, "text"),
        author_id=meta_id(author.get("id"), "from.id"),
        # Instagram's usernames have at most 30 characters; a longer one is cut, not the
        # comment lost.
        author_username=string(author, "username")[:64],
        media_id=optional_id(media, "id"),
        media_product_type=string(media, "media_product_type", max_length=32),
        parent_id=optional_id(value, "parent_id"),
        ad_id=optional_id(media, "ad_id"),
        ad_title=string(media, "ad_title"),
        is_live=is_live,
        timestamp=change_time(entry_time),
    )
