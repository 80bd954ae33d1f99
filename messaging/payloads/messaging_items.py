"""`messaging[]` and `standby[]` items: a customer's message (or our echo), an edit, an
unsend, a reaction, a read, a tap on a button, a referral."""

import logging

from messaging.payloads.events import (
    Attachment,
    Event,
    EventError,
    MessageDeleted,
    MessageEdit,
    MessageEvent,
    Postback,
    Reaction,
    Read,
    Referral,
    ReferralEvent,
    StoryReference,
    UnknownEvent,
)
from messaging.payloads.fields import (
    as_object,
    from_milliseconds,
    integer,
    message_id,
    meta_id,
    storable_text,
    string,
)

logger = logging.getLogger(__name__)


def parse_event(item, account_id: str, standby: bool) -> Event:
    if not isinstance(item, dict):
        raise EventError("not an object")
    common = {
        "account_id": account_id,
        "sender_id": meta_id(as_object(item, "sender").get("id"), "sender.id"),
        "recipient_id": meta_id(as_object(item, "recipient").get("id"), "recipient.id"),
        "timestamp": from_milliseconds(item.get("timestamp")),
        "standby": standby,
    }

    if "message" in item:
        message = as_object(item, "message")
        if message.get("is_deleted"):
            return MessageDeleted(**common, mid=message_id(message, "mid"))
        return _parse_message(message, common)
    if "message_edit" in item:
        edit = as_object(item, "message_edit")
        return MessageEdit(
            **common,
            mid=message_id(edit, "mid"),
            text=string(edit, "text"),
            num_edit=integer(edit, "num_edit"),
        )
    if "reaction" in item:
        reaction = as_object(item, "reaction")
        return Reaction(
            **common,
            mid=message_id(reaction, "mid"),
            action=string(reaction, "action", required=True),
            reaction=string(reaction, "reaction", max_length=32),
            emoji=string(reaction, "emoji", max_length=32),
        )
    if "read" in item:
        return Read(**common, mid=message_id(as_object(item, "read"), "mid"))
    if "postback" in item:
        postback = as_object(item, "postback")
        return Postback(
            **common,
            mid=message_id(postback, "mid"),
            title=string(postback, "title"),
            payload=string(postback, "payload"),
        )
    if "referral" in item:
        return ReferralEvent(**common, referral=_referral(as_object(item, "referral")))
    return UnknownEvent(
        **common,
        keys=tuple(sorted(map(storable_text, item.keys() - {"sender", "recipient", "timestamp"}))),
    )


def _parse_message(message: dict, common: dict) -> MessageEvent:
    """A message: its mid and text must be readable; a malformed optional part (an attachment,
    a quick reply, what it replies to, a referral) is left out with a warning, never the
    customer's message with it."""
    mid = message_id(message, "mid")
    attachments = _optional(mid, "attachments", lambda: _attachments(message), ())
    reply_to = _optional(mid, "reply_to", lambda: _reply_to(message), ("", None))
    return MessageEvent(
        **common,
        mid=mid,
        text=string(message, "text"),
        attachments=attachments,
        is_echo=message.get("is_echo") is True,
        is_self=message.get("is_self") is True,
        is_unsupported=message.get("is_unsupported") is True,
        quick_reply_payload=_optional(
            mid,
            "quick_reply",
            lambda: (
                string(as_object(message, "quick_reply"), "payload")
                if "quick_reply" in message
                else ""
            ),
            "",
        ),
        reply_to_mid=reply_to[0],
        reply_to_story=reply_to[1],
        referral=_optional(
            mid,
            "referral",
            lambda: _referral(as_object(message, "referral")) if "referral" in message else None,
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
    reply_to = as_object(message, "reply_to")
    story = None
    if "story" in reply_to:
        data = as_object(reply_to, "story")
        story = StoryReference(id=message_id(data, "id", required=False), url=string(data, "url"))
    return message_id(reply_to, "mid", required=False), story


def _attachment(item) -> Attachment:
    if not isinstance(item, dict):
        raise EventError("an attachment is not an object")
    payload = item.get("payload") or {}
    if not isinstance(payload, dict):
        raise EventError("attachment payload is not an object")
    return Attachment(type=string(item, "type", required=True), url=string(payload, "url"))


def _referral(data: dict) -> Referral:
    # An ad's id comes as `ad_id`, or inside `ads_context_data` on some of Meta's pages.
    ads = data.get("ads_context_data") if isinstance(data.get("ads_context_data"), dict) else {}
    ad_id = data.get("ad_id") or ads.get("ad_id")
    return Referral(
        ref=string(data, "ref"),
        source=string(data, "source"),
        type=string(data, "type"),
        ad_id=meta_id(ad_id, "referral.ad_id") if ad_id else "",
    )
