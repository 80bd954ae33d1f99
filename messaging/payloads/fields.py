"""Reading one value of Meta's JSON safely: the right type, a length a column holds, text a
database can store (lone surrogates), a time that is not absurd. Each raises EventError."""

import logging
from datetime import UTC, datetime, timedelta

from messaging.payloads.events import MID_LENGTH, EventError
from meta.cleaning import clean_id, clean_text

logger = logging.getLogger(__name__)

# Clocks differ a little; a time further ahead than this is wrong (a message dated in 9999 would
# stay its conversation's latest forever), and is taken as the time the delivery is parsed.
FUTURE_TOLERANCE = timedelta(days=1)

# Counts (num_edit) go into 32-bit integer columns on every database.
MAX_COUNT = 2**31 - 1


def as_object(data: dict, key: str) -> dict:
    value = data.get(key)
    if not isinstance(value, dict):
        raise EventError(f'"{key}" is missing or not an object')
    return value


def string(data: dict, key: str, *, required: bool = False, max_length: int | None = None) -> str:
    """Display text: lone surrogates become U+FFFD, NULs are removed (meta.cleaning)."""
    return storable_text(checked_string(data, key, required=required, max_length=max_length))


def message_id(data: dict, key: str, *, required: bool = True) -> str:
    """A message id (or another opaque id Meta names in a string): lone surrogates kept apart."""
    value = storable_id(checked_string(data, key, required=required, max_length=MID_LENGTH))
    if len(value) > MID_LENGTH:
        raise EventError(f'"{key}" is longer than {MID_LENGTH} characters')
    return value


def checked_string(data: dict, key: str, *, required: bool, max_length: int | None = None) -> str:
    value = data.get(key)
    if value is None:
        if required:
            raise EventError(f'"{key}" is missing')
        return ""
    if not isinstance(value, str):
        raise EventError(f'"{key}" is not a string')
    if required and not value:
        raise EventError(f'"{key}" is empty')
    if max_length is not None and len(value) > max_length:
        raise EventError(f'"{key}" is longer than {max_length} characters')
    return value


# The cleaning every text and id from Meta goes through, webhooks and Graph answers alike.
storable_text = clean_text
storable_id = clean_id


def integer(data: dict, key: str) -> int:
    value = data.get(key, 0)
    # bool is an int in Python, but never a count in Meta's JSON.
    if not isinstance(value, int) or isinstance(value, bool):
        raise EventError(f'"{key}" is not an integer')
    if not 0 <= value <= MAX_COUNT:
        raise EventError(f'"{key}" is out of range')
    return value


def meta_id(value, where: str) -> str:
    # Meta sends ids as strings; numbers are accepted because JSON tools love to convert them.
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value or len(value) > 64:
        raise EventError(f"{where} is missing or not an id")
    value = storable_id(value)
    # Checked once escaped: the id columns hold 64 characters.
    if len(value) > 64:
        raise EventError(f"{where} is missing or not an id")
    return value


def from_milliseconds(value) -> datetime:
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


def optional_id(data: dict, key: str) -> str:
    return "" if data.get(key) in (None, "") else meta_id(data[key], f'"{key}"')


def lenient_time_ms(value, where: str) -> int | float:
    """A time outside messaging[] in milliseconds: entry[].time of changes is in seconds, and
    the Test samples send a string. Numbers below 1e11 are seconds (1e11 ms is 1973)."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise EventError(f'"{where}" is missing or not a number')
    return value * 1000 if value < 1e11 else value
