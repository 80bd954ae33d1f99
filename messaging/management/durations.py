"""Ages on the command line: 30d, 12h, 90m, 2w."""

import re
from argparse import ArgumentTypeError
from datetime import timedelta

# ASCII digits: \d would take Arabic-Indic digits (U+0661 and so on) too.
_AGE = re.compile(r"^([0-9]+)([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
# Longer than anything the service keeps; now minus more than this could leave the calendar.
MAX_AGE = timedelta(days=36_500)


def age(value: str) -> timedelta:
    """An argparse type: '30d' -> timedelta(days=30)."""
    match = _AGE.match(value.strip())
    if not match:
        raise ArgumentTypeError(f"{value[:40]!r} is not an age like 30d, 12h, 90m or 2w")
    try:
        duration = timedelta(**{_UNITS[match[2]]: int(match[1])})
    except (OverflowError, ValueError):
        duration = None
    if duration is None or duration > MAX_AGE:
        raise ArgumentTypeError(f"{value[:40]!r} is longer than 100 years")
    return duration
