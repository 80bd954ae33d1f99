from contacts.models.contacts import Contact, ContactField, ContactTag, FieldValue, Tag
from contacts.models.flows import ReplyVariant, RuleAction, VariantSent

__all__ = [
    "Contact",
    "ContactField",
    "ContactTag",
    "FieldValue",
    "ReplyVariant",
    "RuleAction",
    "Tag",
    "VariantSent",
]
