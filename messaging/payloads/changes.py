"""`entry[].changes[]` items: the messaging fields in that form (what the app dashboard's Test
button sends) are read here; any other field goes to the parser a feature app registered for
it (messaging.hooks: comments and mentions are the comments app's)."""

import logging
from datetime import UTC, datetime

from messaging import hooks
from messaging.payloads.events import Event, EventError
from messaging.payloads.fields import (
    as_object,
    from_milliseconds,
    lenient_time_ms,
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


def parse_change(change, account_id: str, entry_time) -> Event | None:
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
    if parse := hooks.change_parser(name):
        return parse(value, account_id, entry_time, name)
    return None


def change_time(entry_time) -> datetime:
    """The time of a change that carries none of its own (a comment, a mention): its entry's,
    the only one Meta gives. Missing or unreadable, the time it is read: the event is kept,
    not lost for want of a time."""
    try:
        return from_milliseconds(lenient_time_ms(entry_time, "entry.time"))
    except EventError as exc:
        logger.warning("A change's entry.time is unusable (%s): taken as now", exc)
        return datetime.now(tz=UTC)
