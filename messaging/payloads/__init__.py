"""
Meta's webhook JSON, parsed once at the edge into small typed objects.

Nothing past this package indexes raw dicts. A delivery whose envelope cannot be read raises
`PayloadError` (the view answers 400); inside a readable envelope, one malformed event becomes a
`MalformedEvent` and never stops the others from being handled.

Shapes follow Meta's Instagram Messaging webhook reference: see ../shared/meta-platform-notes.md.
One module a part: `events` (the typed objects), `messaging_items` (`messaging[]` and
`standby[]`), `changes` (`changes[]`: messaging fields in that form; other fields go to the
parsers feature apps register, comments.payloads for comments and mentions),
`fields` (reading one value safely); here, the delivery and its entries.
"""

import json

from messaging.payloads.changes import parse_change
from messaging.payloads.events import (
    MID_LENGTH,
    REFERRAL_MID_PREFIX,
    Attachment,
    Delivery,
    Event,
    EventError,
    MalformedEvent,
    MessageDeleted,
    MessageEdit,
    MessageEvent,
    PayloadError,
    Postback,
    Reaction,
    Read,
    Referral,
    ReferralEvent,
    StoryReference,
    UnknownEvent,
)
from messaging.payloads.fields import meta_id, storable_text
from messaging.payloads.messaging_items import parse_event

__all__ = [
    "MID_LENGTH",
    "REFERRAL_MID_PREFIX",
    "Attachment",
    "Delivery",
    "Event",
    "EventError",
    "MalformedEvent",
    "MessageDeleted",
    "MessageEdit",
    "MessageEvent",
    "PayloadError",
    "Postback",
    "Reaction",
    "Read",
    "Referral",
    "ReferralEvent",
    "StoryReference",
    "UnknownEvent",
    "parse_delivery",
    "read_envelope",
]


def parse_delivery(body: bytes) -> Delivery:
    obj, entries = read_envelope(body)
    delivery = Delivery(object=obj)
    if obj != "instagram":
        return delivery
    for position, entry in enumerate(entries):
        _parse_entry(entry, position, delivery)
    return delivery


def read_envelope(body: bytes) -> tuple[str, list]:
    """The delivery's "object" and "entry", or PayloadError when no worker could read it: all
    the webhook checks before storing it (its events are parsed by the worker, once; a
    malformed event never makes the delivery unreadable)."""
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
    return obj, entries


def _parse_entry(entry, position: int, delivery: Delivery) -> None:
    if not isinstance(entry, dict):
        delivery.events.append(MalformedEvent("", f"entry[{position}] is not an object"))
        return
    try:
        account_id = meta_id(entry.get("id"), f"entry[{position}].id")
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
                delivery.events.append(parse_event(item, account_id, standby))
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
            event = parse_change(change, account_id, entry.get("time"))
        except EventError as exc:
            delivery.events.append(MalformedEvent(account_id, f"{where}: {exc}"))
            continue
        if event is None:
            delivery.ignored.append(f"{where} (field {change.get('field')!r})")
        else:
            delivery.events.append(event)

    for key in entry.keys() - {"id", "time", "messaging", "standby", "changes"}:
        delivery.ignored.append(f"entry[{position}].{storable_text(key)}")
