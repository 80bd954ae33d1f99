"""Knowledge entries as CSV, out and in: what staff edit in a spreadsheet, and what the admin
and the API import and export.

Columns: id, title, questions (one phrasing a line, in one cell), answer, link, account (an
account id; empty: every account), active (yes/no). An import is all or nothing: every row is
checked as the admin checks an entry, and the first problems are reported by row.
"""

import csv
import io
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.access import may_change_account, scope
from knowledge.models import KnowledgeEntry

COLUMNS = ["id", "title", "questions", "answer", "link", "account", "active"]
REQUIRED = {"title", "questions", "answer"}
# A knowledge base a business keeps up by hand, with room to spare.
MAX_IMPORT_BYTES = 2_000_000
MAX_IMPORT_ROWS = 2_000
MAX_REPORTED_PROBLEMS = 20
_YES = {"yes", "y", "true", "1", "x"}
_NO = {"no", "n", "false", "0", ""}


class ImportRefused(ValueError):
    """The file was not imported; `problems` says why, by row."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


def export_csv(entries) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for entry in entries:
        writer.writerow(
            [
                entry.pk,
                entry.title,
                entry.questions,
                entry.answer,
                entry.link,
                entry.account_id or "",
                "yes" if entry.is_active else "no",
            ]
        )
    return out.getvalue()


@dataclass(frozen=True)
class Imported:
    created: int
    updated: int


def import_csv(data: bytes, user) -> Imported:
    """Create (no id) or update (an id of an entry `user` may change) the file's entries, all
    or none. Raises ImportRefused."""
    if len(data) > MAX_IMPORT_BYTES:
        raise ImportRefused([f"The file has more than {MAX_IMPORT_BYTES:,} bytes."])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportRefused([f"The file is not UTF-8 text (byte {exc.start})."]) from None
    if "\x00" in text:
        raise ImportRefused(["The file holds a NUL character: it is no CSV text."])
    try:
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise ImportRefused([f"Not a CSV file: {exc}."]) from None
    header = set(rows[0]) if rows else set()
    if missing := REQUIRED - header:
        raise ImportRefused([f"Missing columns: {', '.join(sorted(missing))}."])
    if len(rows) > MAX_IMPORT_ROWS:
        raise ImportRefused([f"At most {MAX_IMPORT_ROWS:,} rows ({len(rows):,} given)."])

    visible = scope(KnowledgeEntry.objects.all(), user, "account")
    entries, problems = [], []
    for number, row in enumerate(rows, start=2):  # the header is line 1
        try:
            entries.append(_entry_of(row, visible, user))
        except ValidationError as exc:
            messages = (
                exc.message_dict.items() if hasattr(exc, "error_dict") else [("", exc.messages)]
            )
            for field_name, errors in messages:
                where = f" {field_name}" if field_name and field_name != "__all__" else ""
                problems.extend(f"Row {number}{where}: {error}" for error in errors)
    if problems:
        raise ImportRefused(problems[:MAX_REPORTED_PROBLEMS])
    created = sum(1 for entry in entries if entry.pk is None)
    with transaction.atomic():
        for entry in entries:
            entry.save()
    return Imported(created=created, updated=len(entries) - created)


def _entry_of(row: dict, visible, user) -> KnowledgeEntry:
    if None in row:
        raise ValidationError("More cells than columns.")
    raw_id = (row.get("id") or "").strip()
    if raw_id:
        if not (raw_id.isascii() and raw_id.isdigit() and len(raw_id) <= 18):
            raise ValidationError({"id": [f"Not an id: {raw_id[:20]!r}."]})
        entry = visible.filter(pk=int(raw_id)).first()
        if entry is None:
            raise ValidationError({"id": [f"No entry {raw_id} of yours."]})
    else:
        entry = KnowledgeEntry()
    for name in ("title", "questions", "answer", "link"):
        if name in row:
            setattr(entry, name, (row[name] or "").strip())
    if "active" in row:
        active = (row["active"] or "").strip().lower()
        if active not in _YES | _NO:
            raise ValidationError({"active": [f"yes or no, not {active[:20]!r}."]})
        entry.is_active = active in _YES
    if "account" in row:
        raw = (row["account"] or "").strip()
        if raw and not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
            raise ValidationError({"account": [f"Not an account id: {raw[:20]!r}."]})
        entry.account_id = int(raw) if raw else None
    if not may_change_account(user, entry.account_id) or (
        entry.account_id and not _account_exists(entry.account_id)
    ):
        raise ValidationError({"account": ["Choose one of your accounts."]})
    entry.full_clean()
    return entry


def _account_exists(account_id: int) -> bool:
    from accounts.models import InstagramBusinessAccount

    return InstagramBusinessAccount.objects.filter(pk=account_id).exists()


def entries_from_csv(text: str) -> list[KnowledgeEntry]:
    """A knowledge CSV's entries, checked but not stored (ids and accounts ignored): what
    `eval_knowledge --knowledge` measures before anything is imported."""
    entries, problems = [], []
    for number, row in enumerate(csv.DictReader(io.StringIO(text, newline="")), start=2):
        entry = KnowledgeEntry(
            pk=number,
            **{name: (row.get(name) or "").strip() for name in ("title", "questions", "answer")},
            link=(row.get("link") or "").strip(),
            is_active=(row.get("active") or "yes").strip().lower() in _YES,
        )
        try:
            entry.full_clean(exclude=["account"], validate_unique=False, validate_constraints=False)
        except ValidationError as exc:
            problems.extend(f"Row {number}: {error}" for error in exc.messages)
        entries.append(entry)
    if problems:
        raise ImportRefused(problems[:MAX_REPORTED_PROBLEMS])
    return [entry for entry in entries if entry.is_active]
