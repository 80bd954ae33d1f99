"""One strict reading of ids and whole numbers for every door staff use: the API, the admin
and the inbox.

Python's int() reads "\\u0661" (an Arabic-Indic one) as 1, "²" fails late, "1_0" is 10 and
int(1.9) is 1; a 20-digit id overflows the database's integer (a 500). Here a whole number is
a JSON integer or ASCII digits 0-9 with an optional sign, at most 18 digits (any 64-bit
column holds it); an id is 1 to 18 ASCII digits. Anything else is the client's mistake.
"""

import re

ID_DIGITS = re.compile(r"[0-9]{1,18}")
WHOLE_NUMBER = re.compile(r"[+-]?[0-9]{1,18}")
LARGEST = 10**18 - 1


def read_whole_number(value) -> int:
    """`value` (a JSON integer, or text as typed in a form) as an int; ValueError otherwise:
    a float (1.9, 1e999, even 1.0), a bool, "1_0", "\\u0661", 19 digits or more."""
    if isinstance(value, int) and not isinstance(value, bool):
        if abs(value) > LARGEST:
            raise ValueError("too large")
        return value
    if isinstance(value, str) and WHOLE_NUMBER.fullmatch(value.strip()):
        return int(value.strip())
    raise ValueError("not a whole number in the digits 0-9")


def read_id(value) -> int | None:
    """An id (a positive int or its ASCII digits), or None when it cannot be one of ours."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if 0 < value <= LARGEST else None
    if isinstance(value, str) and ID_DIGITS.fullmatch(value):
        return int(value)
    return None


class IdConverter:
    """A URL's <id:pk>: 1 to 18 ASCII digits; anything else does not match (404)."""

    regex = ID_DIGITS.pattern

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value) -> str:
        return str(value)
