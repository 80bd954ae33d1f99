"""Ages on the command line: 30d, 12h, 90m, 2w."""

import re
from argparse import ArgumentTypeError
from datetime import timedelta

_AGE = re.compile(r"^(\d+)([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def age(value: str) -> timedelta:
    """An argparse type: '30d' -> timedelta(days=30)."""
    match = _AGE.match(value.strip())
    if not match:
        raise ArgumentTypeError(f"{value!r} is not an age like 30d, 12h, 90m or 2w")
    return timedelta(**{_UNITS[match[2]]: int(match[1])})
