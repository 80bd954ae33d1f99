"""Text from Meta as a database can store it: one cleaning for webhook deliveries
(messaging.payloads) and every answer of the Graph API (meta.graph), so what one door lets in
the other does too.

JSON can escape half of a UTF-16 pair on its own ("\\ud800"): Python reads it, but no database
can store it (UnicodeEncodeError). A NUL ("\\u0000") is refused by PostgreSQL. In text, a lone
surrogate becomes U+FFFD and a NUL is removed, so the message, tap or comment is still stored
and answered. In ids, each becomes its escape's own text ("\\ud800", "\\x00"), so two ids that
differ only there stay two ids (U+FFFD would make the second a "duplicate" and drop it).
"""

import re

LONE_SURROGATE = re.compile("[\ud800-\udfff]")

# Keys whose string values are ids in Meta's JSON (webhooks and Graph answers alike).
ID_KEYS = frozenset({"id", "mid"})


def clean_text(value: str) -> str:
    """Display text: lone surrogates become U+FFFD, NULs are removed."""
    if value.isascii():
        return value.replace("\x00", "")
    return LONE_SURROGATE.sub("\ufffd", value).replace("\x00", "")


def clean_id(value: str) -> str:
    """An opaque id: a lone surrogate or a NUL becomes its escape's text, distinct ids stay
    distinct."""
    if "\x00" in value:
        value = value.replace("\x00", "\\x00")
    if value.isascii():
        return value
    return value.encode("utf-8", "backslashreplace").decode()


def is_id_key(key) -> bool:
    return isinstance(key, str) and (key in ID_KEYS or key.endswith("_id"))


def clean_answer(data):
    """A decoded Graph API answer with every string cleaned: the values of id keys ("id",
    "mid", "*_id") as ids, every other string (keys included) as text. A loop, not recursion:
    an answer may be nested as deeply as the JSON reader allows."""
    root = [data]
    # Each pending item: (container, key or index, value, whether it is an id's value).
    pending = [(root, 0, data, False)]
    while pending:
        container, where, value, as_id = pending.pop()
        if isinstance(value, str):
            container[where] = clean_id(value) if as_id else clean_text(value)
        elif isinstance(value, dict):
            cleaned = {clean_text(k) if isinstance(k, str) else k: v for k, v in value.items()}
            container[where] = cleaned
            pending.extend((cleaned, k, v, is_id_key(k)) for k, v in cleaned.items())
        elif isinstance(value, list):
            pending.extend((value, i, item, as_id) for i, item in enumerate(value))
    return root[0]
