"""/healthz: for load balancers and monitoring, 200 when all is well, else 503 with the
reasons: the backlog of replies and deliveries, the workers' heartbeat, credentials that cannot
be opened, the task queue, and each account's reconciliation."""

import logging

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count, Max, Min
from django.http import HttpRequest, JsonResponse
from django.utils import timezone

from accounts.services import unreadable_credentials
from history.health import reconciliation_health
from instabot.middleware import database_problem
from messaging.models import Message, WebhookDelivery, WorkerHeartbeat
from messaging.task_queue import queue_problem

logger = logging.getLogger(__name__)


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
        problem = database_problem(exc)
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
