from contacts.models.contacts import Contact, ContactField, ContactTag, FieldValue, Tag
from contacts.models.flows import ReplyVariant, RuleAction, VariantSent
from contacts.models.requests import ExternalRequest

__all__ = [
    "Contact",
    "ContactField",
    "ContactTag",
    "ExternalRequest",
    "FieldValue",
    "ReplyVariant",
    "RuleAction",
    "Tag",
    "VariantSent",
]
