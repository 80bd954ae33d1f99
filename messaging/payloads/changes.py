"""`entry[].changes[]` items: comments and live comments, mentions, and the messaging fields
in that form (what the app dashboard's Test button sends)."""

import logging
from datetime import UTC, datetime

from messaging.payloads.events import CommentEvent, Event, EventError, MentionEvent
from messaging.payloads.fields import (
    as_object,
    from_milliseconds,
    lenient_time_ms,
    meta_id,
    optional_id,
    string,
)
from messaging.payloads.messaging_items import parse_event

logger = logging.getLogger(__name__)


# Messaging fields, as the app dashboard's Test button sends them (and some subscriptions do):
# the change's value is one messaging event.
MESSAGING_FIELDS = frozenset(
    {
        "messages",
        "messaging_postbacks",
        "messaging_referral",
        "messaging_seen",
        "message_reactions",
        "message_edit",
        "messaging_optins",
        "messaging_handover",
    }
)
COMMENT_FIELDS = frozenset({"comments", "live_comments"})


def parse_change(change, account_id: str, entry_time) -> "Event | CommentEvent | None":
    """One `entry[].changes[]` item as an event; None for a field we do not handle."""
    if not isinstance(change, dict):
        raise EventError("not an object")
    name = string(change, "field", required=True, max_length=64)
    value = as_object(change, "value")
    if name in MESSAGING_FIELDS:
        # The same event as in messaging[], except that the Test samples' timestamp is a
        # string, in seconds.
        item = {**value, "timestamp": lenient_time_ms(value.get("timestamp"), "timestamp")}
        return parse_event(item, account_id, standby=False)
    if name in COMMENT_FIELDS:
        return _parse_comment(value, account_id, entry_time, is_live=name == "live_comments")
    if name == "mentions":
        return MentionEvent(
            account_id=account_id,
            media_id=meta_id(value.get("media_id"), "media_id"),
            comment_id=optional_id(value, "comment_id"),
            timestamp=_change_time(entry_time),
        )
    return None


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
        timestamp=_change_time(entry_time),
    )


def _change_time(entry_time) -> datetime:
    """A comment's or mention's time: its entry's, the only one Meta gives. Missing or
    unreadable, the time it is read: the comment is kept, not lost for want of a time."""
    try:
        return from_milliseconds(lenient_time_ms(entry_time, "entry.time"))
    except EventError as exc:
        logger.warning("A change's entry.time is unusable (%s): taken as now", exc)
        return datetime.now(tz=UTC)
