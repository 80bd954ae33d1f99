"""Contacts as CSV: exported with their tags and fields, imported to update them.

A contact begins with the customer's first message (Instagram allows no first message from
us), so an import updates known contacts, found by account and customer id; a row naming
anyone else is reported, not created. Each row is checked whole and applied whole; the
import reports every row it skipped and why.
"""

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from contacts import editing
from contacts.models import Contact, ContactField

# A file a person exports and edits: large, not unbounded.
IMPORT_MAX_BYTES = 5 * 1024 * 1024
IMPORT_MAX_ROWS = 20_000

COLUMNS = [
    "account",
    "customer_id",
    "username",
    "name",
    "source",
    "source_ref",
    "first_seen",
    "last_seen",
    "opted_out",
    "tags",
    "notes",
]
FIELD_PREFIX = "field:"
_YES, _NO = {"yes", "true", "1"}, {"no", "false", "0"}


class BadFile(ValueError):
    """A file that cannot be read as contacts; str() says why (a 400)."""


# A spreadsheet runs a cell starting with one of these as a formula (OWASP's "CSV injection"
# list: a tab or a carriage return first hides the rest from the eye): kept as text, quoted.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(text: str) -> str:
    return f"'{text}" if text[:1] in _FORMULA_STARTS else text


def export_rows(contacts: QuerySet[Contact]) -> Iterator[list[str]]:
    """The header, then a row per contact; read in batches (a few queries per thousand)."""
    contacts = contacts.select_related("conversation").prefetch_related("tags", "values__field")
    keys = sorted(
        set(ContactField.objects.filter(values__contact__in=contacts).values_list("key", flat=True))
    )
    yield COLUMNS + [FIELD_PREFIX + key for key in keys]
    for contact in contacts.iterator(chunk_size=1_000):
        values = {value.field.key: value.value for value in contact.values.all()}
        conversation = contact.conversation
        row = [
            conversation.instagram_account_id,
            conversation.customer_id,
            conversation.customer_username,
            contact.name,
            contact.source,
            contact.source_ref,
            contact.first_seen_at.isoformat(),
            contact.last_seen_at.isoformat(),
            "yes" if contact.opted_out else "no",
            ", ".join(sorted(tag.name for tag in contact.tags.all())),
            contact.notes,
        ]
        yield [_cell(text) for text in row] + [_cell(values.get(key, "")) for key in keys]


def export_text(rows: Iterable[list[str]]) -> Iterator[str]:
    """Rows as CSV text, a line at a time (for a streaming response)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow(row)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


@dataclass
class ImportReport:
    updated: int = 0
    skipped: list[dict] = field(default_factory=list)  # {"line": n, "problems": [...]}

    def as_json(self) -> dict:
        return {"updated": self.updated, "skipped": self.skipped}


def import_file(data: bytes, contacts: QuerySet[Contact]) -> ImportReport:
    """Update the `contacts` (those the user may change) the file names. Raises BadFile for a
    file that is not CSV text with the columns."""
    if len(data) > IMPORT_MAX_BYTES:
        raise BadFile(f"At most {IMPORT_MAX_BYTES // (1024 * 1024)} MB a file.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadFile("The file is not UTF-8 text (save it as CSV UTF-8).") from None
    if "\x00" in text:
        raise BadFile("The file holds NUL characters: it is not a CSV text file.")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = reader.fieldnames or []
    except csv.Error as exc:
        raise BadFile(f"Line 1: {_csv_problem(exc)}") from None
    _check_header(header)
    report = ImportReport()
    try:
        for number, row in enumerate(reader, start=2):
            if number - 1 > IMPORT_MAX_ROWS:
                raise BadFile(f"At most {IMPORT_MAX_ROWS:,} contacts a file.")
            problems = _import_row(row, contacts)
            if problems:
                report.skipped.append({"line": number, "problems": problems})
            else:
                report.updated += 1
    except csv.Error as exc:
        raise BadFile(f"Line {reader.line_num}: {_csv_problem(exc)}") from None
    return report


def _check_header(header: list[str]) -> None:
    """BadFile unless the first line names account and customer_id, and only columns an
    export has (a column the import would silently ignore is a mistake worth saying)."""
    if "account" not in header or "customer_id" not in header:
        raise BadFile("The first line names the columns, with account and customer_id.")
    named = [name for name in header if name.strip()]
    twice = sorted({name for name in named if named.count(name) > 1})
    if twice:
        raise BadFile(f"Columns named twice: {', '.join(n[:40] for n in twice[:5])}.")
    unknown = [
        name
        for name in named
        if name not in COLUMNS
        and not (name.startswith(FIELD_PREFIX) and len(name) > len(FIELD_PREFIX))
    ]
    if unknown:
        raise BadFile(
            f"Unknown columns: {', '.join(repr(n[:40]) for n in unknown[:5])}. The columns "
            f"are {', '.join(COLUMNS)} and {FIELD_PREFIX}<a field's key>."
        )


def _csv_problem(exc: csv.Error) -> str:
    if "field larger than field limit" in str(exc):
        # Python's csv reader stops at 128 KB a cell; a field's value holds 1,000 characters.
        return "a cell is larger than 128 KB: not a contacts file."
    return str(exc)


def _import_row(row: dict, contacts: QuerySet[Contact]) -> list[str]:
    if None in row:
        return ["More cells than the first line has columns."]
    account, customer = (row.get("account") or "").strip(), (row.get("customer_id") or "").strip()
    contact = (
        contacts.select_related("conversation")
        .filter(conversation__instagram_account_id=account, conversation__customer_id=customer)
        .first()
        if account.isascii() and customer.isascii()
        else None
    )
    if contact is None:
        return [f"No contact {customer[:40]!r} of account {account[:40]!r} (or not yours)."]
    opted_out = (row.get("opted_out") or "").strip().lower()
    if opted_out and opted_out not in _YES | _NO:
        return ["opted_out is yes or no."]
    tags = row.get("tags")
    values = {
        name.removeprefix(FIELD_PREFIX): _uncell(text)
        for name, text in row.items()
        if name and name.startswith(FIELD_PREFIX) and (text or "").strip()
    }
    try:
        change = editing.check_change(
            contact,
            tags=[t for t in _uncell(tags).split(",") if t.strip()] if tags is not None else None,
            values=values,
            notes=_uncell(row["notes"]) if "notes" in row else None,
            opted_out=(opted_out in _YES) if opted_out else None,
        )
    except ValidationError as exc:
        return [f"{name}: {' '.join(messages)}" for name, messages in exc.message_dict.items()]
    editing.apply_change(contact, change)
    return []


def _uncell(text: str | None) -> str:
    """A cell as export_rows wrote it, without the quote that kept a formula text."""
    text = text or ""
    return text[1:] if text[:1] == "'" and text[1:2] in _FORMULA_STARTS else text
