"""Instagram's webhook (verify, parse, store raw and queue for the worker, answer) and /healthz.

Meta waits 20 s and retries anything but a 200 for up to 36 hours, so the status codes matter.
"""

import hmac
import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError
from django.db.models import Count, Max, Min
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from accounts.models import InstagramBusinessAccount
from accounts.services import app_secret_for, verify_token_for
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
    account = (
        InstagramBusinessAccount.objects.filter(instagram_id=instagram_account_id).first()
        if instagram_account_id
        else None
    )
    if request.method == "GET":
        return _verify_subscription(request, verify_token_for(account))
    return _receive_delivery(request, app_secret_for(account))


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


def _receive_delivery(request: HttpRequest, app_secret: str) -> HttpResponse:
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
        signatures.verify(body, request.headers.get(signatures.SIGNATURE_HEADER), app_secret)
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
        # 503: we could not store it; Meta delivers it again later.
        logger.error("Webhook delivery not stored, asking Meta to retry: %s", exc)
        return HttpResponse("Could not store the delivery", status=503, content_type="text/plain")
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
        logger.error("Unreadable webhook delivery not stored, asking Meta to retry: %s", exc)
        return HttpResponse("Could not store the delivery", status=503, content_type="text/plain")
    logger.warning("Webhook delivery %s rejected: %s", delivery.pk, reason)
    return HttpResponse(f"Bad payload: {reason}", status=400, content_type="text/plain")


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
    except DatabaseError as exc:
        logger.error("Health check: the database is unreachable: %s", exc)
        return JsonResponse(
            {"status": "unhealthy", "problems": [f"database unreachable ({type(exc).__name__})"]},
            status=503,
        )
    oldest_wait = (now - queue["oldest"]).total_seconds() if queue["oldest"] else 0.0
    oldest_delivery = (now - unhandled["oldest"]).total_seconds() if unhandled["oldest"] else 0.0
    heartbeat_age = (now - last_heartbeat).total_seconds() if last_heartbeat else None
    problems = list(reconciliation_problems)
    if reason := queue_problem():
        problems.append(reason)
    if oldest_wait > settings.HEALTH_MAX_REPLY_WAIT:
        problems.append(f"the oldest due reply has waited {oldest_wait:.0f} s")
    if oldest_delivery > settings.HEALTH_MAX_REPLY_WAIT:
        problems.append(f"the oldest unhandled delivery has waited {oldest_delivery:.0f} s")
    if heartbeat_age is None:
        problems.append("no worker has ever reported")
    elif heartbeat_age > _heartbeat_timeout():
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


def _heartbeat_timeout() -> float:
    # Workers beat once per sweep: three missed sweeps (at least a minute) mean none is alive.
    return max(3 * settings.REPLY_SWEEP_INTERVAL, 60.0)
