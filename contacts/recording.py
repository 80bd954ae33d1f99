"""Keeping contacts up to date as customers write: registered with the core
(messaging.hooks) by ContactsConfig.ready.

Per DM this costs one statement when nothing waits on the customer (the common case): an
INSERT for a new conversation's contact, else one conditional UPDATE of the last seen time
that also tells whether a flow waits on them (a question, an A/B variant's outcome). Only
then is the contact read. A batch of messages (the worker's, each of another conversation)
costs one INSERT for the new contacts and one UPDATE for the returning ones
(customer_messages); only a contact something waits on, or one saying STOP or START, goes
through the one-message path.
"""

import logging
import re

from django.conf import settings
from django.db.models import Case, DateTimeField, F, Value, When
from django.db.models.functions import Greatest
from django.utils import timezone

from contacts import events, flows
from contacts.models import Contact
from messaging.hooks import CustomerMessage
from rules.matching import normalize

logger = logging.getLogger(__name__)

_NOT_TEXT = re.compile("[\x00\ud800-\udfff]")


def customer_message(stored: CustomerMessage, reply, reason: str):
    """messaging.hooks handler: the contact seen now, then its flow (which may change the
    reply)."""
    seen_at = stored.event.timestamp
    changes = _opt_out_changes(stored.message.text)
    if stored.new_conversation:
        contact = _new_contact(stored)
        Contact.objects.bulk_create([contact], ignore_conflicts=True)
        events.announce("contact.created", stored.conversation)
        return flows.continue_flow(stored, contact, reply, reason, waiting=False)
    quiet = Contact.objects.filter(
        pk=stored.conversation.pk, asking__isnull=True, variant_sent__isnull=True
    )
    # Deliveries arrive out of order: last seen only moves forward.
    if quiet.update(last_seen_at=Greatest(F("last_seen_at"), Value(seen_at)), **changes):
        return flows.continue_flow(stored, None, reply, reason, waiting=False)
    contact = _waiting_or_new_contact(stored, seen_at, changes)
    return flows.continue_flow(stored, contact, reply, reason, waiting=True)


def customer_messages(items: list[tuple[CustomerMessage, object, str]]) -> list[tuple]:
    """customer_message's batch form (messaging.hooks), for messages of distinct
    conversations: one INSERT of the new contacts, one UPDATE of the last seen time of the
    returning ones nothing waits on; the others one at a time."""
    decided: list = [None] * len(items)
    new, returning, one_at_a_time = [], {}, []
    for index, (stored, _, _) in enumerate(items):
        if stored.new_conversation:
            new.append(index)
        elif _opt_out_changes(stored.message.text):
            one_at_a_time.append(index)
        else:
            returning[stored.conversation.pk] = index
    if new:
        contacts = [_new_contact(items[index][0]) for index in new]
        Contact.objects.bulk_create(contacts, ignore_conflicts=True)
        for index, contact in zip(new, contacts, strict=True):
            stored, reply, reason = items[index]
            events.announce("contact.created", stored.conversation)
            decided[index] = flows.continue_flow(stored, contact, reply, reason, waiting=False)
    if returning:
        quiet = Contact.objects.filter(
            pk__in=list(returning), asking__isnull=True, variant_sent__isnull=True
        )
        seen = Case(
            *(When(pk=pk, then=Value(items[i][0].event.timestamp)) for pk, i in returning.items()),
            output_field=DateTimeField(),
        )
        # Deliveries arrive out of order: last seen only moves forward.
        updated = quiet.update(last_seen_at=Greatest(F("last_seen_at"), seen))
        # Their conversations are locked: what was quiet a moment ago still is.
        done = set(returning)
        if updated < len(returning):
            done = set(quiet.values_list("pk", flat=True))
        for pk, index in returning.items():
            if pk not in done:
                one_at_a_time.append(index)  # something waits on them, or no contact yet
                continue
            stored, reply, reason = items[index]
            decided[index] = flows.continue_flow(stored, None, reply, reason, waiting=False)
    for index in one_at_a_time:
        decided[index] = customer_message(*items[index])
    return decided


def _new_contact(stored: CustomerMessage) -> Contact:
    source, ref = source_of(stored)
    seen_at = stored.event.timestamp
    return Contact(
        conversation=stored.conversation,
        first_seen_at=seen_at,
        last_seen_at=seen_at,
        source=source,
        source_ref=ref,
        **_opt_out_changes(stored.message.text),
    )


def _waiting_or_new_contact(stored: CustomerMessage, seen_at, changes: dict) -> Contact:
    contact = Contact.objects.filter(pk=stored.conversation.pk).first()
    if contact is None:
        # A conversation begun before contacts existed, or by the business (a private reply
        # to a comment, a message from the Instagram app).
        source, ref = source_of(stored)
        contact, created = Contact.objects.get_or_create(
            conversation=stored.conversation,
            defaults={
                "first_seen_at": seen_at,
                "last_seen_at": seen_at,
                "source": source,
                "source_ref": ref,
                **changes,
            },
        )
        if created:
            events.announce("contact.created", stored.conversation)
        return contact
    contact.last_seen_at = max(contact.last_seen_at, seen_at)
    for name, value in changes.items():
        setattr(contact, name, value)
    contact.save(update_fields=["last_seen_at", *changes])
    return contact


def _opt_out_changes(text: str) -> dict:
    """STOP (CONTACT_OPT_OUT_KEYWORDS) opts the contact out of broadcasts; START back in."""
    said = normalize(text or "")
    if said in settings.CONTACT_OPT_OUT_KEYWORDS:
        return {"opted_out_at": timezone.now()}
    if said in settings.CONTACT_OPT_IN_KEYWORDS:
        return {"opted_out_at": None}
    return {}


def source_of(stored: CustomerMessage) -> tuple[str, str]:
    """Where the customer came from, and its ref: an ad, a link, a story, a comment."""
    event = stored.event
    referral = getattr(event, "referral", None)
    if referral is not None:
        if referral.ad_id or referral.source.upper() == "ADS":
            return Contact.Source.AD, referral.ad_id or referral.ref
        return Contact.Source.LINK, referral.ref
    attachments = getattr(event, "attachments", ())
    if getattr(event, "reply_to_story", None) or any(
        a.type == "story_mention" for a in attachments
    ):
        return Contact.Source.STORY, ""
    if not stored.new_conversation:
        first = (
            stored.conversation.messages.order_by("created_at", "id")
            .values_list("details", flat=True)
            .first()
        )
        if comment_id := (first or {}).get("private_reply_to_comment"):
            return Contact.Source.COMMENT, str(comment_id)[:255]
    return Contact.Source.DM, ""


def profile_fetched(conversation_id: int, profile) -> None:
    """messaging.hooks handler: the customer's name, as Instagram gives it."""
    name = _NOT_TEXT.sub("", profile.name or "")[:255]
    if name:
        Contact.objects.filter(pk=conversation_id).update(name=name)
