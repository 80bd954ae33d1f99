"""Ages on the command line: 30d, 12h, 90m, 2w."""

import re
from argparse import ArgumentTypeError
from datetime import timedelta

# ASCII digits only (Arabic-Indic "30d" is not an age), and a span that can be counted back
# from now.
_AGE = re.compile(r"^([0-9]{1,9})([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
LONGEST = timedelta(days=100 * 365)


def age(value: str) -> timedelta:
    """An argparse type: '30d' -> timedelta(days=30)."""
    match = _AGE.match(value.strip())
    if not match:
        raise ArgumentTypeError(f"{value!r} is not an age like 30d, 12h, 90m or 2w")
    try:
        span = timedelta(**{_UNITS[match[2]]: int(match[1])})
    except OverflowError:
        span = LONGEST + timedelta(days=1)
    if span > LONGEST:
        raise ArgumentTypeError(f"{value!r} is longer than 100 years")
    return span
