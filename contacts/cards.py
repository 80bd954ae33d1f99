"""The contact as the inbox's customer pane shows and edits it."""

from django.core.exceptions import ValidationError

from contacts import editing
from contacts.models import Contact, ContactField


def contact_of(conversation) -> Contact:
    """The conversation's contact, made now if the customer has not written since contacts
    began (a conversation the business opened)."""
    contact, _ = Contact.objects.get_or_create(
        conversation=conversation,
        defaults={
            "first_seen_at": conversation.created_at,
            "last_seen_at": conversation.last_message_at or conversation.created_at,
        },
    )
    return contact


def contact_card(conversation) -> dict:
    """Tags, fields (every field of the account, set or not), source and when seen: three
    queries."""
    contact = Contact.objects.filter(pk=conversation.pk).first()
    values = editing.field_values(contact) if contact else {}
    fields = editing.fields_for(conversation.account_id).order_by("label", "pk")
    return {
        "name": contact.name if contact else "",
        "source": contact.get_source_display() if contact else "",
        "source_ref": contact.source_ref if contact else "",
        "first_seen": contact.first_seen_at.isoformat() if contact else None,
        "last_seen": contact.last_seen_at.isoformat() if contact else None,
        "opted_out": bool(contact and contact.opted_out),
        "tags": editing.tag_names(contact) if contact else [],
        "fields": [
            {
                "key": field.key,
                "label": field.label,
                "kind": field.kind,
                "choices": field.choice_list() if field.kind == ContactField.Kind.CHOICE else [],
                "value": values.get(field.key, ""),
            }
            for field in fields
        ],
    }


def edit_contact(conversation, data) -> None:
    """Staff's edit from the customer pane: `data` (a form's POST) holds `tags`
    (comma-separated), `field:<key>` for each field shown, and `opted_out` (on or absent).
    ValidationError says what is wrong; nothing is changed then."""
    contact = contact_of(conversation)
    change = editing.check_change(
        contact,
        tags=[tag for tag in data["tags"].split(",") if tag.strip()] if "tags" in data else None,
        values={
            name.removeprefix("field:"): value
            for name, value in data.items()
            if name.startswith("field:")
        },
        opted_out=data.get("opted_out") == "on",
    )
    editing.apply_change(contact, change)


def problems_in_words(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return " ".join(f"{name}: {' '.join(m)}" for name, m in exc.message_dict.items())
    return " ".join(exc.messages)
