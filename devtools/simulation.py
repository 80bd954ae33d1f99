"""Meta-shaped deliveries made up locally: for simulate_dm, the fake Graph API's echoes, tests."""

import json
import random
import time
import uuid

from meta import signatures

# Instagram professional account ids look like this; this one is made up for local runs.
DEMO_ACCOUNT_ID = "17841400000000001"


def new_mid() -> str:
    return "aWdfZAG1fake" + uuid.uuid4().hex


def new_customer_id() -> str:
    """A made-up Instagram-scoped id (IGSID): 16 digits, as Meta's look."""
    return str(random.randrange(10**15, 10**16))


def message_delivery(
    *,
    account_id: str,
    sender_id: str,
    recipient_id: str,
    text: str,
    mid: str,
    is_echo: bool = False,
    attachments: list | None = None,
    quick_reply_payload: str = "",
) -> bytes:
    """The body Meta posts for one message (is_echo: one the business sent), with text or
    attachments, or a tap on a quick reply (its title as the text)."""
    now_ms = int(time.time() * 1000)
    message = {"mid": mid}
    if text:
        message["text"] = text
    if attachments:
        message["attachments"] = attachments
    if quick_reply_payload:
        message["quick_reply"] = {"payload": quick_reply_payload}
    if is_echo:
        message["is_echo"] = True
    payload = {
        "object": "instagram",
        "entry": [
            {
                "id": account_id,
                "time": now_ms,
                "messaging": [
                    {
                        "sender": {"id": sender_id},
                        "recipient": {"id": recipient_id},
                        "timestamp": now_ms,
                        "message": message,
                    }
                ],
            }
        ],
    }
    # Meta escapes non-ASCII characters in its bodies; so do we, to sign the same way.
    return json.dumps(payload, ensure_ascii=True).encode()


def event_delivery(*, account_id: str, sender_id: str, event: dict) -> bytes:
    """The body Meta posts for one `messaging[]` item of a customer's: `event` holds its
    `message`, `postback` or `referral`."""
    now_ms = int(time.time() * 1000)
    item = {
        "sender": {"id": sender_id},
        "recipient": {"id": account_id},
        "timestamp": now_ms,
        **event,
    }
    payload = {
        "object": "instagram",
        "entry": [{"id": account_id, "time": now_ms, "messaging": [item]}],
    }
    return json.dumps(payload, ensure_ascii=True).encode()


def customer_event(
    *,
    mid: str,
    text: str = "",
    postback: str = "",
    quick_reply: str = "",
    attachment: str = "",
    story: str = "",
    ref: str | None = None,
    ad_id: str = "",
) -> dict:
    """One customer event as Meta shapes it: a tap on a button (`postback`, titled `text`), a
    message (text, a quick reply's payload, an attachment, a story mention or reply, a
    referral on it), or, with a `ref` or `ad_id` alone, a thread opened from a link or an ad."""
    referral = None
    if ref is not None or ad_id:
        referral = {
            "ref": ref or "",
            "source": "ADS" if ad_id else "IG_ME_LINK",
            "type": "OPEN_THREAD",
        }
        if ad_id:
            referral["ad_id"] = ad_id
    if postback:
        return {"postback": {"mid": mid, "title": text, "payload": postback}}
    cdn = "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=" + mid[-6:]
    message: dict = {"mid": mid}
    if text:
        message["text"] = text
    if quick_reply:
        message["quick_reply"] = {"payload": quick_reply}
    if attachment:
        message["attachments"] = [{"type": attachment, "payload": {"url": cdn}}]
    if story == "mention":
        message["attachments"] = [{"type": "story_mention", "payload": {"url": cdn}}]
    elif story == "reply":
        message["reply_to"] = {"story": {"url": cdn, "id": "179" + mid[-14:].rjust(14, "0")}}
    if referral and len(message) == 1:
        return {"referral": referral}
    if referral:
        message["referral"] = referral
    return {"message": message}


def signed_headers(body: bytes, app_secret: str) -> dict:
    return {
        "Content-Type": "application/json",
        signatures.SIGNATURE_HEADER: signatures.sign(body, app_secret),
    }


def new_comment_id() -> str:
    # Instagram comment ids are numeric strings of about 17 digits.
    return str(17_800_000_000_000_000 + uuid.uuid4().int % 10**14)


def comment_delivery(
    *,
    account_id: str,
    comment_id: str,
    author_id: str,
    text: str,
    media_id: str,
    username: str = "",
    parent_id: str = "",
    live: bool = False,
    time_s: int | None = None,
) -> bytes:
    """The body Meta posts for one comment (`live`: on a live broadcast), as its webhook
    reference shows it: a `changes[]` item; entry.time in seconds."""
    value = {
        "from": {"id": author_id, "username": username or f"user_{author_id[-4:]}"},
        "media": {"id": media_id, "media_product_type": "LIVE" if live else "FEED"},
        "id": comment_id,
        "text": text,
    }
    if parent_id:
        value["parent_id"] = parent_id
    payload = {
        "object": "instagram",
        "entry": [
            {
                "id": account_id,
                "time": int(time.time()) if time_s is None else time_s,
                "changes": [{"field": "live_comments" if live else "comments", "value": value}],
            }
        ],
    }
    return json.dumps(payload, ensure_ascii=True).encode()


def mention_delivery(
    *, account_id: str, media_id: str, comment_id: str = "", time_s: int | None = None
) -> bytes:
    """The body Meta posts when the account is @mentioned: in a comment (`comment_id`) or in
    a caption (none). Ids only: what the mention says is read from the Graph API."""
    value = {"media_id": media_id}
    if comment_id:
        value["comment_id"] = comment_id
    payload = {
        "object": "instagram",
        "entry": [
            {
                "id": account_id,
                "time": int(time.time()) if time_s is None else time_s,
                "changes": [{"field": "mentions", "value": value}],
            }
        ],
    }
    return json.dumps(payload, ensure_ascii=True).encode()
