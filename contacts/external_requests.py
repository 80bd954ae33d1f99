"""The flow action "external request": the contact and the message POSTed as JSON to a URL
staff set, as a kind of the one outbox (after the event's transaction: the reply never waits
for it); fields named in its JSON answer are saved, each checked for its type."""

import json
import logging

import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import F, Q
from django.utils import timezone

from contacts import editing
from contacts.models import Contact, ContactField, ExternalRequest, RuleAction
from contacts.models.flows import external_request_hosts
from instabot.safe_urls import RefusedAddress, check_url, post
from messaging.models import OutboxStatus
from messaging.outbox import OutboxKind, PermanentSendError, Sent, TransientSendError

logger = logging.getLogger(__name__)

# An answer larger than this is not read (a contact's fields are short).
ANSWER_MAX_BYTES = 100_000


def queue_request(stored, contact_id: int, action: RuleAction) -> None:
    """In the event's transaction: the request is kept or rolled back with the message."""
    conversation, message = stored.conversation, stored.message
    contact = Contact(conversation_id=contact_id)
    ExternalRequest.objects.create(
        action=action,
        contact_id=contact_id,
        url=action.url,
        status=OutboxStatus.QUEUED,
        due_at=timezone.now(),
        payload={
            "contact": {
                **conversation.as_event(),
                "fields": editing.field_values(contact),
                "tags": editing.tag_names(contact),
            },
            "message": {"mid": message.mid, "text": message.text},
            "rule": action.rule_id,
        },
    )


class ExternalRequests(OutboxKind):
    name = "external_request"
    label = "Flow's external request"
    model = ExternalRequest
    account_id_field = "contact__conversation__instagram_account_id"
    account_path = "contact__conversation__account"
    context_field, context_admin = "contact", "contacts_contact"
    calls_meta = False

    def listed(self):
        return self.rows().annotate(text=F("url"))

    def load(self, pk: int) -> ExternalRequest:
        return ExternalRequest.objects.select_related("contact__conversation__account").get(pk=pk)

    def account(self, row: ExternalRequest):
        return row.contact.conversation.account

    def account_id(self, row: ExternalRequest) -> str:
        return row.contact.conversation.instagram_account_id

    def send(self, row: ExternalRequest, client) -> Sent:
        # In the sender's pool: the network only; the fields are saved by sent().
        try:
            check_url(row.url, external_request_hosts())
        except ValidationError as exc:
            raise PermanentSendError(f"refused: {' '.join(exc.messages)}") from None
        body = json.dumps(row.payload, cls=DjangoJSONEncoder, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "instabot-flows"}
        try:
            timeout = settings.EXTERNAL_REQUEST_TIMEOUT
            answer = post(row.url, data=body, headers=headers, timeout=timeout)
        except RefusedAddress as exc:
            raise PermanentSendError(f"refused: {exc}") from None
        except requests.RequestException as exc:
            raise TransientSendError(f"no answer: {type(exc).__name__}") from None
        if answer.status_code >= 500 or answer.status_code in (408, 429):
            raise TransientSendError(f"the endpoint answered {answer.status_code}")
        if answer.status_code >= 400:
            raise PermanentSendError(f"the endpoint answered {answer.status_code}")
        return Sent(str(answer.status_code), answer=_read_answer(answer))

    def sent(self, row: ExternalRequest, outcome: Sent) -> None:
        answer = outcome.answer
        note = _save_answer(row, answer) if isinstance(answer, dict) else answer
        row.mark_done(int(outcome.external_id), note)


def _read_answer(answer) -> dict | str:
    """Its JSON object, or why it is not read."""
    if len(answer.content) > ANSWER_MAX_BYTES:
        return f"answer not read: over {ANSWER_MAX_BYTES:,} bytes"
    try:
        data = json.loads(answer.content)
    except (ValueError, RecursionError):
        return "answer not read: not JSON"
    if not isinstance(data, dict):
        return "answer not read: not a JSON object"
    return data


def _save_answer(row: ExternalRequest, data: dict) -> str:
    """Fields named in a JSON object answer, each checked for its type; what was saved."""
    contact = row.contact
    account_id = contact.conversation.account_id
    fields = ContactField.objects.filter(
        Q(account__isnull=True) | Q(account_id=account_id),
        key__in=[k for k in data if isinstance(k, str)],
    )
    values, problems = {}, []
    for field in fields:
        value = data[field.key]
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            problems.append(f"{field.key}: not a text or a number")
            continue
        try:
            values[field.pk] = field.clean_value(str(value))
        except ValidationError as exc:
            problems.append(f"{field.key}: {exc.messages[0]}")
    if values:
        editing.apply_change(contact, editing.Change(values=values))
    saved = ", ".join(sorted(f.key for f in fields if f.pk in values)) or "nothing"
    return f"saved {saved}" + (f"; refused {'; '.join(problems)}" if problems else "")
