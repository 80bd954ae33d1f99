"""Work that waits because a stored credential cannot be opened (a wrong FIELD_ENCRYPTION_KEY,
say): once every stored credential opens again (the key fixed, or the credentials entered
again), all of it is queued at once, deliveries and sends of every kind alike, rather than
each on its own timer.

Each kind of work registers how to tell that some of it waits and how to queue it now (the
core's deliveries and replies here, from MessagingConfig.ready; a feature's sends from its
own AppConfig.ready). The worker runs `queue_work_waiting_for_credentials` as an upkeep step.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.services import unreadable_credentials
from messaging.models import Message, WebhookDelivery
from messaging.sending import WAITING_FOR_CREDENTIALS, enqueue_send

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WaitingKind:
    name: str  # plural, for the log line: "deliveries", "replies"
    any_waiting: Callable[[], bool]
    queue_now: Callable[[datetime], int]  # how many were queued


_kinds: dict[str, WaitingKind] = {}


def register_waiting_for_credentials(
    name: str, *, any_waiting: Callable[[], bool], queue_now: Callable[[datetime], int]
) -> None:
    _kinds[name] = WaitingKind(name, any_waiting, queue_now)


def queue_work_waiting_for_credentials(now: datetime | None = None) -> int:
    """Queue, at once, everything of every kind that waited for credentials, if every stored
    credential opens now. Else only deliveries that waited REPLY_STALLED_AFTER go round again
    (another account's credentials may be what still does not open; a reply has its own
    timer). Cheap when nothing waits: one query per kind. Returns how many were queued."""
    now = now or timezone.now()
    waiting = [kind for kind in _kinds.values() if kind.any_waiting()]
    if not waiting:
        return 0
    if unreadable_credentials():
        return _queue_deliveries(
            now, waited_since=now - timedelta(seconds=settings.REPLY_STALLED_AFTER)
        )
    queued = 0
    for kind in waiting:
        if count := kind.queue_now(now):
            logger.info(
                "Every stored credential opens: %d %s that waited are queued", count, kind.name
            )
            queued += count
    return queued


def _deliveries_waiting():
    return WebhookDelivery.objects.filter(state=WebhookDelivery.State.WAITING_FOR_CREDENTIALS)


def _queue_deliveries(now: datetime, waited_since: datetime | None = None) -> int:
    """Handling is idempotent: events already stored are not stored twice."""
    waiting = _deliveries_waiting()
    if waited_since is not None:
        waiting = waiting.filter(processed_at__lt=waited_since)  # when a worker last found it
    # Conditional on the state: two workers doing it at once change each row once.
    return waiting.update(state=WebhookDelivery.State.RECEIVED, handling_since=timezone.now())


def _replies_waiting():
    return Message.objects.filter(
        status=Message.Status.QUEUED, last_error__startswith=WAITING_FOR_CREDENTIALS
    )


def _queue_replies(now: datetime) -> int:
    queued = 0
    for pk in _replies_waiting().filter(next_attempt_at__gt=now).values_list("pk", flat=True):
        with transaction.atomic():
            # Conditional: a send that took it meanwhile wins; its deferred task finds it sent.
            if (
                _replies_waiting()
                .filter(pk=pk, next_attempt_at__gt=now)
                .update(next_attempt_at=now)
            ):
                enqueue_send(pk)
                queued += 1
    return queued


def register_the_cores_kinds() -> None:
    register_waiting_for_credentials(
        "deliveries",
        any_waiting=lambda: _deliveries_waiting().exists(),
        queue_now=_queue_deliveries,
    )
    register_waiting_for_credentials(
        "replies", any_waiting=lambda: _replies_waiting().exists(), queue_now=_queue_replies
    )
