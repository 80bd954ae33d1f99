"""Business events to staff's URLs: queued per endpoint in the transaction of what happened,
then POSTed by the one outbox's sender (kind "webhook": its retries, its backoff), signed."""

import hashlib
import hmac
import json
import logging
import time

import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import F
from django.utils import timezone

from instabot.safe_urls import RefusedAddress, check_url, post
from messaging.models import OutboxStatus
from messaging.outbox import (
    NotSent,
    OutboxKind,
    PermanentSendError,
    Sent,
    TransientSendError,
)
from outgoing_webhooks.models import EndpointDelivery, WebhookEndpoint

logger = logging.getLogger(__name__)

# The endpoint's answers that are worth no retry: it refused this delivery for good.
RETRIED_CLIENT_ERRORS = {408, 429}


def queue_event(name: str, account_id: int | None, data: dict) -> int:
    """messaging.hooks business-event handler: a delivery for each active endpoint of the
    account that wants it."""
    if account_id is None or account_id not in _accounts_with_endpoints():
        return 0
    endpoints = [
        endpoint
        for endpoint in WebhookEndpoint.objects.filter(account_id=account_id, is_active=True)
        if name in endpoint.events
    ]
    now = timezone.now()
    EndpointDelivery.objects.bulk_create(
        EndpointDelivery(
            endpoint=endpoint,
            event=name,
            payload=data,
            status=OutboxStatus.QUEUED,
            due_at=now,
            created_at=now,
        )
        for endpoint in endpoints
    )
    return len(endpoints)


# Which accounts have an active endpoint, read at most this often per process: most events
# (every DM that needs a person) then cost no statement; a new endpoint gets events within it.
ENDPOINTS_READ_EVERY = 30.0
_endpoints_read: tuple[float, frozenset[int]] = (0.0, frozenset())


def _accounts_with_endpoints() -> frozenset[int]:
    global _endpoints_read
    read_at, accounts = _endpoints_read
    if time.monotonic() - read_at > ENDPOINTS_READ_EVERY:
        active = WebhookEndpoint.objects.filter(is_active=True)
        accounts = frozenset(active.values_list("account_id", flat=True).distinct())
        _endpoints_read = (time.monotonic(), accounts)
    return accounts


def forget_endpoints(**kwargs) -> None:
    """An endpoint changed in this process: read them again at the next event."""
    global _endpoints_read
    _endpoints_read = (0.0, frozenset())


def body_of(delivery: EndpointDelivery) -> bytes:
    return json.dumps(
        {
            "id": delivery.pk,
            "event": delivery.event,
            "created_at": delivery.created_at,
            "account": delivery.endpoint.account.instagram_id,
            "data": delivery.payload,
        },
        cls=DjangoJSONEncoder,
        ensure_ascii=False,
    ).encode()


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 of "<timestamp>.<body>": the receiver checks it, and the time (replays)."""
    signed = timestamp.encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


class EndpointDeliveries(OutboxKind):
    name = "webhook"
    label = "Outgoing webhook"
    model = EndpointDelivery
    account_id_field = "endpoint__account__instagram_id"
    account_path = "endpoint__account"
    context_field, context_admin = "endpoint", "outgoing_webhooks_webhookendpoint"
    calls_meta = False

    def listed(self):
        # In the list of every send: the event, where a message's text would be.
        return self.rows().annotate(text=F("event"))

    def load(self, pk: int) -> EndpointDelivery:
        return EndpointDelivery.objects.select_related("endpoint__account").get(pk=pk)

    def account(self, row: EndpointDelivery):
        return row.endpoint.account

    def account_id(self, row: EndpointDelivery) -> str:
        return row.endpoint.account.instagram_id

    def describe(self, row: EndpointDelivery) -> str:
        return f"Webhook delivery {row.pk} ({row.event})"

    def prepare(self, row: EndpointDelivery):
        if not row.endpoint.is_active:
            return NotSent("not sent: the endpoint is disabled", OutboxStatus.CANCELLED)
        return None

    def send(self, row: EndpointDelivery, client) -> Sent:
        # In the sender's pool: the network only. The answer is kept on the row, saved by
        # changed() in the pass's thread, whatever the outcome.
        endpoint = row.endpoint
        try:
            # Again now: a host may resolve elsewhere than when it was saved.
            check_url(endpoint.url)
        except ValidationError as exc:
            raise PermanentSendError(f"refused: {' '.join(exc.messages)}") from None
        body, timestamp = body_of(row), str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "instabot-webhooks",
            "X-Instabot-Event": row.event,
            "X-Instabot-Delivery": str(row.pk),
            "X-Instabot-Timestamp": timestamp,
            "X-Instabot-Signature": signature(endpoint.secret, timestamp, body),
        }
        try:
            answer = post(
                endpoint.url, data=body, headers=headers, timeout=settings.OUTGOING_WEBHOOK_TIMEOUT
            )
        except RefusedAddress as exc:
            raise PermanentSendError(f"refused: {exc}") from None
        except requests.RequestException as exc:
            row.note_answer(None, f"{type(exc).__name__}: {exc}")
            raise TransientSendError(f"no answer: {type(exc).__name__}") from None
        row.note_answer(answer.status_code, answer.text)
        if 200 <= answer.status_code < 300:
            return Sent(str(answer.status_code))
        reason = f"the endpoint answered {answer.status_code}"
        if 400 <= answer.status_code < 500 and answer.status_code not in RETRIED_CLIENT_ERRORS:
            raise PermanentSendError(reason)
        raise TransientSendError(reason)

    def sent(self, row: EndpointDelivery, outcome: Sent) -> None:
        if row.mark_delivered():
            row.endpoint.record_success(timezone.now())

    def changed(self, row: EndpointDelivery) -> None:
        row.save_answer()
        failed = row.status == OutboxStatus.FAILED or (
            row.status == OutboxStatus.QUEUED and row.last_error
        )
        if failed and row.endpoint.record_failure(timezone.now(), row.last_error):
            logger.warning("Outgoing webhook %s disabled: failing for a day", row.endpoint_id)
