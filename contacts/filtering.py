"""Finding contacts by tag, field, source and last seen: the API's list and its CSV export
(and, next, broadcasts' segments) read the same query parameters."""

from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, QuerySet
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.timezone import is_naive, make_aware

from contacts.models import Contact, ContactTag, FieldValue
from contacts.values import check_text
from instabot.rest import ID_DIGITS


class BadFilter(ValueError):
    """A filter the client got wrong; str() says how (a 400)."""


@dataclass(frozen=True)
class Segment:
    tags: tuple[str, ...] = ()  # every one of them
    fields: tuple[tuple[str, str | None], ...] = ()  # key, value (None: any value)
    source: str = ""
    last_seen_after: datetime | None = None
    last_seen_before: datetime | None = None
    account_id: int | None = None
    opted_out: bool | None = None

    @classmethod
    def from_query(cls, query) -> "Segment":
        """?tag=vip&tag=paris (both) &field=city:Paris (or field=city: any value)
        &source=ad &last_seen_after=2026-12-01 &last_seen_before=… &account=<id>
        &opted_out=true|false"""
        tags = tuple(_text(tag, "tag") for tag in query.getlist("tag"))
        fields = []
        for item in query.getlist("field"):
            key, colon, value = _text(item, "field").partition(":")
            fields.append((key.strip(), value.strip() if colon else None))
        source = query.get("source", "")
        if source and source not in Contact.Source.values:
            raise BadFilter(f"source is one of {', '.join(Contact.Source.values)}.")
        account = query.get("account") or None
        if account is not None and not ID_DIGITS.fullmatch(account):
            raise BadFilter("account must be an account's id.")
        opted_out = query.get("opted_out")
        if opted_out not in (None, "", "true", "false"):
            raise BadFilter("opted_out is true or false.")
        return cls(
            tags=tags,
            fields=tuple(fields),
            source=source,
            last_seen_after=_moment(query.get("last_seen_after"), "last_seen_after"),
            last_seen_before=_moment(query.get("last_seen_before"), "last_seen_before"),
            account_id=int(account) if account else None,
            opted_out=None if not opted_out else opted_out == "true",
        )

    def apply(self, contacts: QuerySet[Contact]) -> QuerySet[Contact]:
        for tag in self.tags:
            contacts = contacts.filter(
                Exists(ContactTag.objects.filter(contact=OuterRef("pk"), tag__name=tag))
            )
        for key, value in self.fields:
            values = FieldValue.objects.filter(contact=OuterRef("pk"), field__key=key)
            if value is not None:
                values = values.filter(value__iexact=value)
            contacts = contacts.filter(Exists(values))
        if self.source:
            contacts = contacts.filter(source=self.source)
        if self.last_seen_after:
            contacts = contacts.filter(last_seen_at__gte=self.last_seen_after)
        if self.last_seen_before:
            contacts = contacts.filter(last_seen_at__lt=self.last_seen_before)
        if self.account_id is not None:
            contacts = contacts.filter(conversation__account_id=self.account_id)
        if self.opted_out is not None:
            contacts = contacts.filter(opted_out_at__isnull=not self.opted_out)
        return contacts


def _text(value: str, name: str) -> str:
    try:
        return check_text(value, name, 1_000)
    except ValidationError as exc:
        raise BadFilter(" ".join(exc.messages)) from None


def _moment(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    text = _text(value, name)
    try:
        moment = parse_datetime(text) if "T" in text or " " in text else None
        if moment is None and (day := parse_date(text)) is not None:
            moment = datetime(day.year, day.month, day.day)
    except ValueError:
        moment = None
    if moment is None or not text.isascii():
        raise BadFilter(f"{name}: a date (2026-12-01) or a time (2026-12-01T09:00:00Z).")
    return make_aware(moment) if is_naive(moment) else moment
