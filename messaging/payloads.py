"""
Meta's webhook JSON, parsed once at the edge into small typed objects.

Nothing past this module indexes raw dicts. A delivery whose envelope cannot be read raises
`PayloadError` (the view answers 400); inside a readable envelope, one malformed event becomes a
`MalformedEvent` and never stops the others from being handled.

Shapes follow Meta's Instagram Messaging webhook reference: see ../shared/meta-platform-notes.md.
"""

import json
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

# Meta's message ids are opaque strings, about 100 characters; the column holds 255.
MID_LENGTH = 255

# JSON can escape half of a UTF-16 pair on its own ("\ud800"): Python reads it, but no database
# can store it. In text it becomes U+FFFD, so the message is still stored and answered; in ids
# (mids, sender, comment ids) the escape's own text ("\\ud800"), so that two ids differing only
# in their lone surrogates stay two ids (U+FFFD would make the second a "duplicate").
LONE_SURROGATE = re.compile("[\ud800-\udfff]")

logger = logging.getLogger(__name__)

# Clocks differ a little; a time further ahead than this is wrong (a message dated in 9999 would
# stay its conversation's latest forever), and is taken as the time the delivery is parsed.
FUTURE_TOLERANCE = timedelta(days=1)

# Counts (num_edit) go into 32-bit integer columns on every database.
MAX_COUNT = 2**31 - 1


class PayloadError(ValueError):
    """The body is not a webhook delivery we can read at all."""


class EventError(ValueError):
    """One event inside a readable delivery is malformed."""


@dataclass(frozen=True)
class Attachment:
    type: str  # image, video, audio, file, share, ig_post, story_mention, reel, ig_reel, ...
    url: str = ""  # Meta's CDN URL; it expires, so it is a pointer, not the content.


@dataclass(frozen=True)
class StoryReference:
    id: str
    url: str = ""


@dataclass(frozen=True)
class Referral:
    ref: str = ""
    source: str = ""  # ADS, SHORTLINK, ...
    type: str = ""  # OPEN_THREAD
    ad_id: str = ""


@dataclass(frozen=True, kw_only=True)
class Event:
    """What every `messaging[]` (or `standby[]`) item carries."""

    account_id: str  # entry[].id: our Instagram professional account
    sender_id: str
    recipient_id: str
    timestamp: datetime
    # From entry[].standby: another app owns the thread, we may record but must not answer.
    standby: bool = False

    @property
    def customer_id(self) -> str:
        """The other side of the conversation, whichever way this event travels."""
        return self.recipient_id if self.sender_id == self.account_id else self.sender_id


@dataclass(frozen=True, kw_only=True)
class MessageEvent(Event):
    mid: str
    text: str = ""
    attachments: tuple[Attachment, ...] = ()
    is_echo: bool = False  # sent by the business: by us through the Send API or by staff
    is_self: bool = False  # a test message the account sent to itself
    is_unsupported: bool = False  # a kind of message Meta does not pass on
    quick_reply_payload: str = ""
    reply_to_mid: str = ""
    reply_to_story: StoryReference | None = None
    referral: Referral | None = None
    # Not from a webhook: what found it ("reconciliation": read from the Conversations API).
    found_by: str = ""


@dataclass(frozen=True, kw_only=True)
class MessageDeleted(Event):
    mid: str


@dataclass(frozen=True, kw_only=True)
class MessageEdit(Event):
    mid: str
    text: str
    num_edit: int


@dataclass(frozen=True, kw_only=True)
class Reaction(Event):
    mid: str
    action: str  # "react" or "unreact"
    reaction: str = ""  # e.g. "love"; absent on unreact
    emoji: str = ""


@dataclass(frozen=True, kw_only=True)
class Read(Event):
    mid: str


@dataclass(frozen=True, kw_only=True)
class Postback(Event):
    mid: str
    title: str = ""
    payload: str = ""


# A referral that opens a thread (ig.me link, ad) has no mid of its own; it is stored as the
# customer's message under this one, which its redeliveries share.
REFERRAL_MID_PREFIX = "referral:"


@dataclass(frozen=True, kw_only=True)
class ReferralEvent(Event):
    referral: Referral

    @property
    def mid(self) -> str:
        return f"{REFERRAL_MID_PREFIX}{self.customer_id}:{int(self.timestamp.timestamp() * 1000)}"


@dataclass(frozen=True, kw_only=True)
class UnknownEvent(Event):
    """An authentic event of a kind we do not handle; kept in the raw log only."""

    keys: tuple[str, ...]


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


@dataclass(frozen=True)
class MalformedEvent:
    """An item we could not read; the rest of the delivery still goes through."""

    account_id: str
    reason: str


@dataclass(frozen=True)
class Delivery:
    object: str
    # Event, CommentEvent, MentionEvent and MalformedEvent items, in order
    events: list = field(default_factory=list)
    # Parts of entries we deliberately do not handle, e.g. changes of fields we do not know.
    ignored: list[str] = field(default_factory=list)


def parse_delivery(body: bytes) -> Delivery:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise PayloadError(f"body is not JSON: {exc}") from None
    except RecursionError:
        # Python's JSON reader gives up near 1000 levels; Meta's deliveries have about 6.
        raise PayloadError("body is JSON nested too deeply to read") from None
    if not isinstance(data, dict):
        raise PayloadError(f"body is JSON {type(data).__name__}, expected an object")
    obj = data.get("object")
    entries = data.get("entry")
    if not isinstance(obj, str) or not isinstance(entries, list):
        raise PayloadError('body lacks "object" (string) and "entry" (list)')

    delivery = Delivery(object=obj)
    if obj != "instagram":
        return delivery
    for position, entry in enumerate(entries):
        _parse_entry(entry, position, delivery)
    return delivery


def _parse_entry(entry, position: int, delivery: Delivery) -> None:
    if not isinstance(entry, dict):
        delivery.events.append(MalformedEvent("", f"entry[{position}] is not an object"))
        return
    try:
        account_id = _id(entry.get("id"), f"entry[{position}].id")
    except EventError as exc:
        delivery.events.append(MalformedEvent("", str(exc)))
        return

    for key, standby in (("messaging", False), ("standby", True)):
        items = entry.get(key, [])
        if not isinstance(items, list):
            delivery.events.append(
                MalformedEvent(account_id, f"entry[{position}].{key} is not a list")
            )
            continue
        for index, item in enumerate(items):
            where = f"entry[{position}].{key}[{index}]"
            try:
                delivery.events.append(_parse_event(item, account_id, standby))
            except EventError as exc:
                delivery.events.append(MalformedEvent(account_id, f"{where}: {exc}"))

    changes = entry.get("changes", [])
    if not isinstance(changes, list):
        delivery.events.append(
            MalformedEvent(account_id, f"entry[{position}].changes is not a list")
        )
        changes = []
    for index, change in enumerate(changes):
        where = f"entry[{position}].changes[{index}]"
        try:
            event = _parse_change(change, account_id, entry.get("time"))
        except EventError as exc:
            delivery.events.append(MalformedEvent(account_id, f"{where}: {exc}"))
            continue
        if event is None:
            delivery.ignored.append(f"{where} (field {change.get('field')!r})")
        else:
            delivery.events.append(event)

    for key in entry.keys() - {"id", "time", "messaging", "standby", "changes"}:
        delivery.ignored.append(f"entry[{position}].{_text(key)}")


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


def _parse_change(change, account_id: str, entry_time) -> "Event | CommentEvent | None":
    """One `entry[].changes[]` item as an event; None for a field we do not handle."""
    if not isinstance(change, dict):
        raise EventError("not an object")
    name = _str(change, "field", required=True, max_length=64)
    value = _obj(change, "value")
    if name in MESSAGING_FIELDS:
        # The same event as in messaging[], except that the Test samples' timestamp is a
        # string, in seconds.
        item = {**value, "timestamp": _lenient_time_ms(value.get("timestamp"), "timestamp")}
        return _parse_event(item, account_id, standby=False)
    if name in COMMENT_FIELDS:
        return _parse_comment(value, account_id, entry_time, is_live=name == "live_comments")
    if name == "mentions":
        return MentionEvent(
            account_id=account_id,
            media_id=_id(value.get("media_id"), "media_id"),
            comment_id=_optional_id(value, "comment_id"),
            timestamp=_change_time(entry_time),
        )
    return None


def _parse_comment(value: dict, account_id: str, entry_time, *, is_live: bool) -> CommentEvent:
    author = _obj(value, "from")
    media = value.get("media") or {}
    if not isinstance(media, dict):
        raise EventError('"media" is not an object')
    comment_id = value.get("id", value.get("comment_id"))
    return CommentEvent(
        account_id=account_id,
        comment_id=_id(comment_id, "id"),
        text=_str(value, "text"),
        author_id=_id(author.get("id"), "from.id"),
        # Instagram's usernames have at most 30 characters; a longer one is cut, not the
        # comment lost.
        author_username=_str(author, "username")[:64],
        media_id=_optional_id(media, "id"),
        media_product_type=_str(media, "media_product_type", max_length=32),
        parent_id=_optional_id(value, "parent_id"),
        ad_id=_optional_id(media, "ad_id"),
        ad_title=_str(media, "ad_title"),
        is_live=is_live,
        timestamp=_change_time(entry_time),
    )


def _change_time(entry_time) -> datetime:
    """A comment's or mention's time: its entry's, the only one Meta gives. Missing or
    unreadable, the time it is read: the comment is kept, not lost for want of a time."""
    try:
        return _timestamp(_lenient_time_ms(entry_time, "entry.time"))
    except EventError as exc:
        logger.warning("A change's entry.time is unusable (%s): taken as now", exc)
        return datetime.now(tz=UTC)


def _optional_id(data: dict, key: str) -> str:
    return "" if data.get(key) in (None, "") else _id(data[key], f'"{key}"')


def _lenient_time_ms(value, where: str) -> int | float:
    """A time outside messaging[] in milliseconds: entry[].time of changes is in seconds, and
    the Test samples send a string. Numbers below 1e11 are seconds (1e11 ms is 1973)."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise EventError(f'"{where}" is missing or not a number')
    return value * 1000 if value < 1e11 else value


def _parse_event(item, account_id: str, standby: bool) -> Event:
    if not isinstance(item, dict):
        raise EventError("not an object")
    common = {
        "account_id": account_id,
        "sender_id": _id(_obj(item, "sender").get("id"), "sender.id"),
        "recipient_id": _id(_obj(item, "recipient").get("id"), "recipient.id"),
        "timestamp": _timestamp(item.get("timestamp")),
        "standby": standby,
    }

    if "message" in item:
        message = _obj(item, "message")
        if message.get("is_deleted"):
            return MessageDeleted(**common, mid=_mid(message, "mid"))
        return _parse_message(message, common)
    if "message_edit" in item:
        edit = _obj(item, "message_edit")
        return MessageEdit(
            **common,
            mid=_mid(edit, "mid"),
            text=_str(edit, "text"),
            num_edit=_int(edit, "num_edit"),
        )
    if "reaction" in item:
        reaction = _obj(item, "reaction")
        return Reaction(
            **common,
            mid=_mid(reaction, "mid"),
            action=_str(reaction, "action", required=True),
            reaction=_str(reaction, "reaction", max_length=32),
            emoji=_str(reaction, "emoji", max_length=32),
        )
    if "read" in item:
        return Read(**common, mid=_mid(_obj(item, "read"), "mid"))
    if "postback" in item:
        postback = _obj(item, "postback")
        return Postback(
            **common,
            mid=_mid(postback, "mid"),
            title=_str(postback, "title"),
            payload=_str(postback, "payload"),
        )
    if "referral" in item:
        return ReferralEvent(**common, referral=_referral(_obj(item, "referral")))
    return UnknownEvent(
        **common,
        keys=tuple(sorted(map(_text, item.keys() - {"sender", "recipient", "timestamp"}))),
    )


def _parse_message(message: dict, common: dict) -> MessageEvent:
    """A message: its mid and text must be readable; a malformed optional part (an attachment,
    a quick reply, what it replies to, a referral) is left out with a warning, never the
    customer's message with it."""
    mid = _mid(message, "mid")
    attachments = _optional(mid, "attachments", lambda: _attachments(message), ())
    reply_to = _optional(mid, "reply_to", lambda: _reply_to(message), ("", None))
    return MessageEvent(
        **common,
        mid=mid,
        text=_str(message, "text"),
        attachments=attachments,
        is_echo=message.get("is_echo") is True,
        is_self=message.get("is_self") is True,
        is_unsupported=message.get("is_unsupported") is True,
        quick_reply_payload=_optional(
            mid,
            "quick_reply",
            lambda: (
                _str(_obj(message, "quick_reply"), "payload") if "quick_reply" in message else ""
            ),
            "",
        ),
        reply_to_mid=reply_to[0],
        reply_to_story=reply_to[1],
        referral=_optional(
            mid,
            "referral",
            lambda: _referral(_obj(message, "referral")) if "referral" in message else None,
            None,
        ),
    )


def _optional(mid: str, part: str, parse, default):
    try:
        return parse()
    except EventError as exc:
        logger.warning("Message %s: its %s is left out, unreadable (%s)", mid, part, exc)
        return default


def _attachments(message: dict) -> tuple[Attachment, ...]:
    items = message.get("attachments", [])
    if not isinstance(items, list):
        raise EventError("message.attachments is not a list")
    readable = []
    for item in items:
        try:
            readable.append(_attachment(item))
        except EventError as exc:
            logger.warning("An attachment of message %s is left out: %s", message.get("mid"), exc)
    return tuple(readable)


def _reply_to(message: dict) -> tuple[str, StoryReference | None]:
    if "reply_to" not in message:
        return "", None
    reply_to = _obj(message, "reply_to")
    story = None
    if "story" in reply_to:
        data = _obj(reply_to, "story")
        story = StoryReference(id=_mid(data, "id", required=False), url=_str(data, "url"))
    return _mid(reply_to, "mid", required=False), story


def _attachment(item) -> Attachment:
    if not isinstance(item, dict):
        raise EventError("an attachment is not an object")
    payload = item.get("payload") or {}
    if not isinstance(payload, dict):
        raise EventError("attachment payload is not an object")
    return Attachment(type=_str(item, "type", required=True), url=_str(payload, "url"))


def _referral(data: dict) -> Referral:
    # An ad's id comes as `ad_id`, or inside `ads_context_data` on some of Meta's pages.
    ads = data.get("ads_context_data") if isinstance(data.get("ads_context_data"), dict) else {}
    ad_id = data.get("ad_id") or ads.get("ad_id")
    return Referral(
        ref=_str(data, "ref"),
        source=_str(data, "source"),
        type=_str(data, "type"),
        ad_id=_id(ad_id, "referral.ad_id") if ad_id else "",
    )


def _obj(data: dict, key: str) -> dict:
    value = data.get(key)
    if not isinstance(value, dict):
        raise EventError(f'"{key}" is missing or not an object')
    return value


def _str(data: dict, key: str, *, required: bool = False, max_length: int | None = None) -> str:
    """Display text: lone surrogates become U+FFFD."""
    return _text(_checked_str(data, key, required=required, max_length=max_length))


def _mid(data: dict, key: str, *, required: bool = True) -> str:
    """A message id (or another opaque id Meta names in a string): lone surrogates kept apart."""
    value = _id_text(_checked_str(data, key, required=required, max_length=MID_LENGTH))
    if len(value) > MID_LENGTH:
        raise EventError(f'"{key}" is longer than {MID_LENGTH} characters')
    return value


def _checked_str(data: dict, key: str, *, required: bool, max_length: int | None = None) -> str:
    value = data.get(key)
    if value is None:
        if required:
            raise EventError(f'"{key}" is missing')
        return ""
    if not isinstance(value, str):
        raise EventError(f'"{key}" is not a string')
    if required and not value:
        raise EventError(f'"{key}" is empty')
    if "\x00" in value:
        # No text Meta sends holds one, and PostgreSQL cannot store it.
        raise EventError(f'"{key}" contains a NUL character')
    if max_length is not None and len(value) > max_length:
        raise EventError(f'"{key}" is longer than {max_length} characters')
    return value


def _text(value: str) -> str:
    """`value` as text a database can store: lone surrogates become U+FFFD."""
    return LONE_SURROGATE.sub("\ufffd", value)


def _id_text(value: str) -> str:
    """`value` as an id a database can store: a lone surrogate becomes its escape's text
    (U+D800 becomes the six characters \\ud800), so distinct ids stay distinct."""
    return value.encode("utf-8", "backslashreplace").decode()


def _int(data: dict, key: str) -> int:
    value = data.get(key, 0)
    # bool is an int in Python, but never a count in Meta's JSON.
    if not isinstance(value, int) or isinstance(value, bool):
        raise EventError(f'"{key}" is not an integer')
    if not 0 <= value <= MAX_COUNT:
        raise EventError(f'"{key}" is out of range')
    return value


def _id(value, where: str) -> str:
    # Meta sends ids as strings; numbers are accepted because JSON tools love to convert them.
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value or len(value) > 64 or "\x00" in value:
        raise EventError(f"{where} is missing or not an id")
    value = _id_text(value)
    # Checked once escaped: the id columns hold 64 characters.
    if len(value) > 64:
        raise EventError(f"{where} is missing or not an id")
    return value


def _timestamp(value) -> datetime:
    """Meta's timestamps are milliseconds since the epoch."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise EventError('"timestamp" is missing or not a number')
    try:
        moment = datetime.fromtimestamp(value / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise EventError(f'"timestamp" {value!r} is out of range') from None
    now = datetime.now(tz=UTC)
    if moment > now + FUTURE_TOLERANCE:
        logger.warning("Timestamp %r is in the future (%s): taken as now", value, moment)
        return now
    return moment
