"""Instagram's webhook: verify, parse, store raw and queue for the worker, answer.

Meta waits 20 s and retries anything but a 200 for up to 36 hours, so the status codes matter.
"""

import hmac
import logging

from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from accounts.encryption import EncryptionKeyError
from accounts.models import InstagramBusinessAccount
from accounts.services import app_secret_for, service_app_secrets, verify_token_for
from instabot.middleware import database_problem
from messaging.models import WebhookDelivery
from messaging.payloads import PayloadError, read_envelope
from messaging.receiving import accept_delivery
from meta import signatures

logger = logging.getLogger(__name__)


# Meta cannot send a CSRF token: the HMAC signature is what authenticates a POST here.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def instagram_webhook(request: HttpRequest, instagram_account_id: str = "") -> HttpResponse:
    # The account-scoped URL checks that account's own app secret and verify token (falling
    # back to the global ones when it has none); the plain URL checks the global ones.
    try:
        account = (
            InstagramBusinessAccount.objects.filter(instagram_id=instagram_account_id).first()
            if instagram_account_id
            else None
        )
        if request.method == "GET":
            expected = verify_token_for(account)
        else:
            # The plain URL takes either of the service's secrets (Facebook and Instagram
            # Login sign with different ones); route() then checks each entry's account.
            expected = [app_secret_for(account)] if account else service_app_secrets()
    except DatabaseError as exc:
        # 503: no database, so no account to check against; Meta delivers it again later.
        logger.error(
            "Webhook for account %s not read: %s: %s",
            instagram_account_id,
            database_problem(exc),
            exc,
        )
        return _unavailable("Could not read the account (database unavailable)")
    except EncryptionKeyError as exc:
        # 503: its secret is stored but no FIELD_ENCRYPTION_KEY key opens it. The operator
        # can fix that, and Meta's retries then get through.
        logger.error("CREDENTIALS PROBLEM: webhook for account %s: %s", instagram_account_id, exc)
        return HttpResponse(
            "This account's stored credentials cannot be opened (FIELD_ENCRYPTION_KEY)",
            status=503,
            content_type="text/plain",
        )
    if request.method == "GET":
        return _verify_subscription(request, expected)
    return _receive_delivery(request, expected)


def _verify_subscription(request: HttpRequest, expected: str) -> HttpResponse:
    """Meta's handshake when the webhook is subscribed: echo hub.challenge, exactly."""
    mode = request.GET.get("hub.mode", "")
    token = request.GET.get("hub.verify_token", "")
    challenge = request.GET.get("hub.challenge", "")
    if mode == "subscribe" and expected and hmac.compare_digest(token.encode(), expected.encode()):
        logger.info("Webhook subscription verified")
        return HttpResponse(challenge, content_type="text/plain; charset=utf-8")
    # 403: not Meta, or a verify token that does not match ours.
    logger.warning("Webhook verification refused (hub.mode=%r, token matches: no)", mode)
    return HttpResponse("Verification failed", status=403, content_type="text/plain")


def _receive_delivery(request: HttpRequest, app_secrets: list[str]) -> HttpResponse:
    if request.content_type != "application/json":
        # 415: Meta posts JSON, always; nothing else is read, let alone stored.
        logger.warning("Webhook delivery refused: content type %r", request.content_type)
        return HttpResponse("Expected application/json", status=415, content_type="text/plain")
    try:
        body = request.body
    except RequestDataTooBig:
        # 413: larger than DATA_UPLOAD_MAX_MEMORY_SIZE; Meta's batches are far smaller.
        logger.warning(
            "Webhook delivery refused: %s bytes is over the limit",
            request.META.get("CONTENT_LENGTH", "?"),
        )
        return HttpResponse("Body too large", status=413, content_type="text/plain")
    try:
        header = request.headers.get(signatures.SIGNATURE_HEADER)
        if not signatures.secret_that_signed(body, header, app_secrets):
            signatures.verify(body, header, app_secrets[0] if app_secrets else "")
    except signatures.InvalidSignature as exc:
        # 401: we cannot tell this came from Meta, so nothing of it is stored.
        logger.warning("Webhook delivery refused (%d bytes): %s", len(body), exc)
        return HttpResponse("Invalid signature", status=401, content_type="text/plain")

    # Only its envelope is read here, to refuse at once what no worker could ever read; its
    # events are parsed by the worker, once, from the stored bytes (a malformed event is
    # stored and skipped there, never a 400). Parsing them here too cost 35 µs of a 1 KB
    # delivery's request, reading its JSON 8 µs (docs/performance.md).
    try:
        read_envelope(body)
    except PayloadError as exc:
        # 400: signed by Meta but unreadable; retrying would send the same bytes. Kept raw.
        return _reject(body, request.headers, str(exc))

    try:
        accept_delivery(body, request.headers)
    except DatabaseError as exc:
        # 503: we could not store it (the database down, refusing connections, or none free
        # in the pool in time); Meta delivers it again later.
        problem = database_problem(exc)
        logger.error("Webhook delivery not stored, asking Meta to retry: %s: %s", problem, exc)
        return _unavailable()
    # 200: stored, waiting for a worker to handle its events. Meta only needs to know that
    # nothing it sent is lost, and waits for this answer.
    logger.debug("Webhook delivery accepted (%d bytes)", len(body))
    return HttpResponse("EVENT_RECEIVED", content_type="text/plain")


def _reject(body: bytes, headers, reason: str) -> HttpResponse:
    try:
        delivery = WebhookDelivery.record(
            body, headers, state=WebhookDelivery.State.REJECTED, error=reason
        )
    except DatabaseError as exc:
        # 503: not even the raw bytes could be kept; Meta's retry gives us another chance.
        logger.error(
            "Unreadable webhook delivery not stored, asking Meta to retry: %s: %s",
            database_problem(exc),
            exc,
        )
        return _unavailable()
    logger.warning("Webhook delivery %s rejected: %s", delivery.pk, reason)
    return HttpResponse(f"Bad payload: {reason}", status=400, content_type="text/plain")


def _unavailable(reason: str = "Could not store the delivery") -> HttpResponse:
    return HttpResponse(reason, status=503, content_type="text/plain")
