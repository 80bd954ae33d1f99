"""Instagram's webhook (verify, parse, store raw and queue for the worker, answer) and /healthz.

Meta waits 20 s and retries anything but a 200 for up to 36 hours, so the status codes matter.
"""

import hmac
import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError, connection
from django.db.models import Count, Max, Min
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods
from psycopg_pool import PoolTimeout

from accounts.encryption import EncryptionKeyError
from accounts.models import InstagramBusinessAccount
from accounts.services import (
    app_secret_for,
    service_app_secrets,
    unreadable_credentials,
    verify_token_for,
)
from history.health import reconciliation_health
from messaging.models import Message, WebhookDelivery, WorkerHeartbeat
from messaging.payloads import PayloadError, parse_delivery
from messaging.receiving import accept_delivery
from messaging.task_queue import queue_problem
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
            _database_problem(exc),
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

    # Parsed here only to refuse at once what no worker could ever handle; the worker parses
    # the stored bytes again (the row, not this request, is what it works from).
    try:
        parse_delivery(body)
    except PayloadError as exc:
        # 400: signed by Meta but unreadable; retrying would send the same bytes. Kept raw.
        return _reject(body, request.headers, str(exc))

    try:
        accept_delivery(body, request.headers)
    except DatabaseError as exc:
        # 503: we could not store it (the database down, refusing connections, or none free
        # in the pool in time); Meta delivers it again later.
        problem = _database_problem(exc)
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
            _database_problem(exc),
            exc,
        )
        return _unavailable()
    logger.warning("Webhook delivery %s rejected: %s", delivery.pk, reason)
    return HttpResponse(f"Bad payload: {reason}", status=400, content_type="text/plain")


def _unavailable(reason: str = "Could not store the delivery") -> HttpResponse:
    return HttpResponse(reason, status=503, content_type="text/plain")


def _database_problem(exc: DatabaseError) -> str:
    """Why the database could not be used, for /healthz and the log: which of the usual
    causes it is. Not the driver's message, which names the server's address: that one goes to
    the log only."""
    message = str(exc).lower()
    if isinstance(exc.__cause__, PoolTimeout):
        pool = connection.settings_dict["OPTIONS"]["pool"]
        return (
            f"no database connection free within {pool['timeout']:g} s: this process's pool "
            f"of {pool['max_size']} is all in use, or the database is not answering"
        )
    if "too many" in message or "connection slots are reserved" in message:
        # PostgreSQL: "sorry, too many clients already"; MySQL/MariaDB: error 1040.
        return "the database refuses new connections: too many clients (max_connections)"
    return f"database unreachable ({type(exc).__name__})"


def healthz(request: HttpRequest) -> JsonResponse:
    """For load balancers and monitoring: 200 when all is well, else 503 with the reasons."""
    now = timezone.now()
    try:
        reconciliation, reconciliation_problems = reconciliation_health()
        due = Message.objects.filter(status=Message.Status.QUEUED, next_attempt_at__lte=now)
        queue = due.aggregate(backlog=Count("id"), oldest=Min("next_attempt_at"))
        unhandled = WebhookDelivery.objects.filter(
            state__in=[WebhookDelivery.State.RECEIVED, WebhookDelivery.State.PROCESSING]
        ).aggregate(backlog=Count("id"), oldest=Min("received_at"))
        last_heartbeat = WorkerHeartbeat.objects.aggregate(last=Max("last_seen"))["last"]
        unreadable = unreadable_credentials()
    except DatabaseError as exc:
        problem = _database_problem(exc)
        logger.error("Health check: %s: %s", problem, exc)
        # 503: without the database nothing is received or sent.
        return JsonResponse({"status": "unhealthy", "problems": [problem]}, status=503)
    oldest_wait = (now - queue["oldest"]).total_seconds() if queue["oldest"] else 0.0
    oldest_delivery = (now - unhandled["oldest"]).total_seconds() if unhandled["oldest"] else 0.0
    heartbeat_age = (now - last_heartbeat).total_seconds() if last_heartbeat else None
    problems = list(reconciliation_problems)
    if reason := queue_problem():
        problems.append(reason)
    if unreadable:
        # Names only: which accounts, which credentials, never a secret.
        more = f"; and {len(unreadable) - 5} more accounts" if len(unreadable) > 5 else ""
        problems.append(
            "stored credentials that FIELD_ENCRYPTION_KEY does not open (a wrong or missing "
            f"key): {'; '.join(unreadable[:5])}{more}"
        )
    if oldest_wait > settings.HEALTH_MAX_REPLY_WAIT:
        problems.append(f"the oldest due reply has waited {oldest_wait:.0f} s")
    if oldest_delivery > settings.HEALTH_MAX_REPLY_WAIT:
        problems.append(f"the oldest unhandled delivery has waited {oldest_delivery:.0f} s")
    if heartbeat_age is None:
        problems.append("no worker is running")
    elif heartbeat_age > settings.WORKER_DEAD_AFTER:  # the newest beat is of a dead worker
        problems.append(f"no worker heartbeat for {heartbeat_age:.0f} s")
    return JsonResponse(
        {
            "status": "unhealthy" if problems else "ok",
            "problems": problems,
            "queue": {"backlog": queue["backlog"], "oldest_wait_seconds": round(oldest_wait, 1)},
            "deliveries": {
                "backlog": unhandled["backlog"],
                "oldest_wait_seconds": round(oldest_delivery, 1),
            },
            "worker": {"last_heartbeat_seconds_ago": _rounded(heartbeat_age)},
            "reconciliation": reconciliation,
        },
        status=503 if problems else 200,
    )


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 1)
