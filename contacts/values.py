"""A custom field's value, checked for the field's type and stored in one canonical text form
(numbers in ASCII digits, dates as YYYY-MM-DD, emails with a lower-case domain, phones as
digits with an optional leading +), so filters and branches compare like with like.

Whoever gives the value — staff in the inbox, the admin, the API or a CSV file, or a customer
answering a flow's question — gets the same checks and the same messages.
"""

import re
from datetime import date

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

# A value a person could type in a DM or a form; a 2 MB value is a mistake or an attack.
VALUE_MAX_LENGTH = 1_000
TAG_MAX_LENGTH = 64

_NUMBER = re.compile(r"[+-]?[0-9]{1,15}(\.[0-9]{1,6})?")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_PHONE = re.compile(r"\+?[0-9][0-9 ().\-/]{4,30}")
_NOT_TEXT = re.compile("[\x00\ud800-\udfff]")  # NUL, lone surrogates: no database stores them


def check_text(text: str, what: str, most: int = VALUE_MAX_LENGTH) -> str:
    """`text` stripped, if a database can store it and a person could read it through."""
    if not isinstance(text, str):
        raise ValidationError(f"{what}: expected text.")
    if len(text) > most:
        raise ValidationError(f"{what} has at most {most:,} characters ({len(text):,} given).")
    if _NOT_TEXT.search(text):
        raise ValidationError(f"{what} holds a NUL or a lone surrogate, which is not text.")
    return text.strip()


def clean_tag(name: str) -> str:
    name = check_text(name, "A tag", TAG_MAX_LENGTH)
    if not name:
        raise ValidationError("A tag needs a name.")
    if "," in name:
        raise ValidationError("A tag cannot hold a comma (tags are listed comma-separated).")
    return name


def clean_value(kind: str, text: str, choices: list[str] = ()) -> str:
    """The canonical form of `text` for a field of `kind` (ContactField.Kind), or
    ValidationError saying what is wrong. "" clears the value."""
    text = check_text(text, "The value")
    if not text:
        return ""
    if kind == "number":
        if not _NUMBER.fullmatch(text):
            raise ValidationError("Enter a number in the digits 0-9 (say 42 or 3.5).")
        number = text.lstrip("+")
        return number.rstrip("0").rstrip(".") if "." in number else str(int(number))
    if kind == "email":
        validate_email(text)
        local, _, domain = text.rpartition("@")
        return f"{local}@{domain.lower()}"
    if kind == "phone":
        if not _PHONE.fullmatch(text):
            raise ValidationError("Enter a phone number in the digits 0-9 (say +44 20 7946 0958).")
        digits = re.sub(r"[^0-9]", "", text)
        if not 5 <= len(digits) <= 15:
            raise ValidationError("A phone number has 5 to 15 digits.")
        return ("+" if text.startswith("+") else "") + digits
    if kind == "date":
        try:
            if not _DATE.fullmatch(text):
                raise ValueError
            return date.fromisoformat(text).isoformat()
        except ValueError:
            raise ValidationError("Enter a date as YYYY-MM-DD (say 2026-12-24).") from None
    if kind == "choice":
        for choice in choices:
            if choice.casefold() == text.casefold():
                return choice
        raise ValidationError(f"Choose one of: {', '.join(choices)}.")
    return text


def split_choices(text: str) -> list[str]:
    """A choice field's choices as staff type them: one a line (or comma-separated)."""
    items = re.split(r"[\n,]", text)
    return list(dict.fromkeys(item.strip() for item in items if item.strip()))
