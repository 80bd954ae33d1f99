"""What a webhook delivery becomes: small typed objects, one a kind of event."""

from dataclasses import dataclass, field
from datetime import datetime

# Meta's message ids are opaque strings, about 100 characters; the column holds 255.
MID_LENGTH = 255


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


@dataclass(frozen=True)
class MalformedEvent:
    """An item we could not read; the rest of the delivery still goes through."""

    account_id: str
    reason: str


@dataclass(frozen=True)
class Delivery:
    object: str
    # Event items (the core's, and those feature apps parse from changes[]) and
    # MalformedEvent items, in order
    events: list = field(default_factory=list)
    # Parts of entries we deliberately do not handle, e.g. changes of fields we do not know.
    ignored: list[str] = field(default_factory=list)
