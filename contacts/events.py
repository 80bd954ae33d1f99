"""The contacts' business events (messaging.hooks: outgoing webhooks receive them), emitted
where a contact, its tags or its fields change."""

from messaging import hooks


def announce(name: str, conversation, **data) -> None:
    hooks.business_event(name, conversation.account_id, {**conversation.as_event(), **data})


def announce_tags(conversation, before: set[str], after: set[str]) -> None:
    for tag in sorted(after - before):
        announce("contact.tag_added", conversation, tag=tag)
    for tag in sorted(before - after):
        announce("contact.tag_removed", conversation, tag=tag)
