"""The outbox: every call that writes to Meta on a business's behalf is an outgoing row
(messaging.models.outbox.OutboxRow: one state machine) of a kind registered here, and one
sender sends them all (sender.send_due, in the worker's pass; sender.send_now, a bot reply
once its DM commits). What differs by kind is a small adapter (kinds.OutboxKind).

    from messaging import outbox
    outbox.send_due(limit)                  the worker's pass: due rows of every kind
    outbox.free_waiting_for_credentials()   the key was fixed: every kind due at once
    outbox.backlog()                        /healthz: due rows of every kind
"""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Min
from django.utils import timezone

from messaging.models import OutboxStatus
from messaging.outbox.kinds import (
    HourlyLimit,
    NotSent,
    OutboxKind,
    PermanentSendError,
    Sent,
    TransientSendError,
    kind_named,
    register,
    registered,
)
from messaging.outbox.sender import send_due, send_now


def free_waiting_for_credentials(now: datetime | None = None) -> int:
    """Every row of every kind that waited for credentials is due now; returns how many."""
    return sum(kind.rows().free_waiting_for_credentials(now) for kind in registered())


@dataclass
class Backlog:
    due: int  # queued and due
    oldest_due_at: datetime | None


def backlog(now: datetime | None = None) -> Backlog:
    """What waits to go to Meta now, over every kind (rows waiting for an hourly limit or a
    later part's turn are not due yet)."""
    now = now or timezone.now()
    count, oldest = 0, None
    for kind in registered():
        due = kind.rows().filter(status=OutboxStatus.QUEUED, due_at__lte=now)
        count += due.count()
        first = due.aggregate(first=Min("due_at"))["first"]
        if first is not None and (oldest is None or first < oldest):
            oldest = first
    return Backlog(count, oldest)


__all__ = [
    "Backlog",
    "HourlyLimit",
    "NotSent",
    "OutboxKind",
    "PermanentSendError",
    "Sent",
    "TransientSendError",
    "backlog",
    "free_waiting_for_credentials",
    "kind_named",
    "register",
    "registered",
    "send_due",
    "send_now",
]
