"""What staff change of a contact — tags, field values, notes, opted out — from the inbox,
the admin, the API or a CSV file: checked the same way everywhere, then written in bulk."""

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from contacts import events
from contacts.models import Contact, ContactField, ContactTag, FieldValue, Tag
from contacts.models.contacts import NOTES_MAX_LENGTH
from contacts.values import check_text, clean_tag
from instabot.upserts import upsert_target

# Tags a contact may carry: labels to find people by, not a diary.
MAX_TAGS = 50


def fields_for(account_id: int | None):
    """The fields of an account's contacts: its own, and those shared by every account."""
    shared = ContactField.objects.filter(account__isnull=True)
    if account_id is None:
        return shared
    return shared | ContactField.objects.filter(account_id=account_id)


def tags_for(account_id: int | None):
    return Tag.objects.filter(account_id=account_id)


def tag_named(account_id: int | None, name: str) -> Tag:
    """The account's tag of this name, made if new. The oldest if two exist: the unique
    constraint does not hold for the environment's account (no account, NULL)."""
    tag = tags_for(account_id).filter(name=name).order_by("pk").first()
    if tag is None:
        Tag.objects.bulk_create([Tag(account_id=account_id, name=name)], ignore_conflicts=True)
        tag = tags_for(account_id).filter(name=name).order_by("pk").first()
    return tag


@dataclass
class Change:
    """A checked change to one contact; None: leave as it is."""

    tags: list[str] | None = None
    values: dict[int, str] = field(default_factory=dict)  # field id -> value ("" clears it)
    notes: str | None = None
    opted_out: bool | None = None


def check_change(
    contact: Contact,
    *,
    tags=None,
    values: dict | None = None,
    notes=None,
    opted_out=None,
) -> Change:
    """The change as given (tags: names; values: field key -> text), checked against the
    contact's account's fields; ValidationError with the problems by name."""
    problems: dict[str, list[str]] = {}
    change = Change(opted_out=opted_out)
    if tags is not None:
        change.tags = []
        for name in tags if isinstance(tags, list | tuple) else [tags]:
            try:
                cleaned = clean_tag(name)
            except ValidationError as exc:
                problems.setdefault("tags", []).extend(exc.messages)
                continue
            if cleaned not in change.tags:
                change.tags.append(cleaned)
        if len(change.tags) > MAX_TAGS:
            problems.setdefault("tags", []).append(f"At most {MAX_TAGS} tags a contact.")
    if values:
        known = {f.key: f for f in fields_for(contact.conversation.account_id)}
        for key, text in values.items():
            defined = known.get(key)
            if defined is None:
                problems[str(key)[:40]] = [f"No field {str(key)[:40]!r} for this account."]
                continue
            try:
                change.values[defined.pk] = defined.clean_value("" if text is None else text)
            except ValidationError as exc:
                problems[key] = exc.messages
    if notes is not None:
        try:
            change.notes = check_text(notes, "The notes", NOTES_MAX_LENGTH)
        except ValidationError as exc:
            problems["notes"] = exc.messages
    if problems:
        raise ValidationError(problems)
    return change


@transaction.atomic
def apply_change(contact: Contact, change: Change) -> None:
    """Write a checked change: a few statements whatever the number of tags and values."""
    if change.tags is not None:
        account_id = contact.conversation.account_id
        existing = {t.name: t for t in tags_for(account_id).filter(name__in=change.tags)}
        missing = [Tag(account_id=account_id, name=n) for n in change.tags if n not in existing]
        if missing:
            Tag.objects.bulk_create(missing, ignore_conflicts=True)
            existing = {t.name: t for t in tags_for(account_id).filter(name__in=change.tags)}
        wanted = {existing[name].pk for name in change.tags}
        before = set(contact.tags.values_list("name", flat=True))
        ContactTag.objects.filter(contact=contact).exclude(tag_id__in=wanted).delete()
        ContactTag.objects.bulk_create(
            [ContactTag(contact=contact, tag_id=pk) for pk in wanted], ignore_conflicts=True
        )
        events.announce_tags(contact.conversation, before, set(change.tags))
    if change.values:
        cleared = [pk for pk, value in change.values.items() if not value]
        FieldValue.objects.filter(contact=contact, field_id__in=cleared).delete()
        FieldValue.objects.bulk_create(
            [
                FieldValue(contact=contact, field_id=pk, value=value)
                for pk, value in change.values.items()
                if value
            ],
            update_conflicts=True,
            update_fields=["value", "updated_at"],
            **upsert_target(["contact", "field"]),
        )
        keys = dict(ContactField.objects.filter(pk__in=change.values).values_list("pk", "key"))
        for pk, value in change.values.items():
            events.announce(
                "contact.field_saved", contact.conversation, field=keys[pk], value=value
            )
    updates = {}
    if change.notes is not None:
        updates["notes"] = change.notes
    if change.opted_out is not None and change.opted_out != contact.opted_out:
        updates["opted_out_at"] = timezone.now() if change.opted_out else None
    if updates:
        Contact.objects.filter(pk=contact.pk).update(**updates)
        for name, value in updates.items():
            setattr(contact, name, value)


def tag_names(contact: Contact) -> list[str]:
    return sorted(contact.tags.values_list("name", flat=True))


def field_values(contact: Contact) -> dict[str, str]:
    return dict(contact.values.values_list("field__key", "value").order_by("field__key"))
