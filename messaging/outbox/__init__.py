"""The outbox: every call that writes to Meta on a business's behalf is an outgoing row
(messaging.models.outbox.OutboxRow: one state machine) of a kind registered here, and one
sender sends them all (sender.send_due, in the worker's pass; sender.send_now, a bot reply
once its DM commits). What differs by kind is a small adapter (kinds.OutboxKind).

    from messaging import outbox
    outbox.send_due(limit)                  the worker's pass: due rows of every kind
    outbox.send_now_many(kind, pks, rows)   rows stored by this worker, sent at once together
                                            (as it holds them: not read again)
    outbox.settle()                         wait for the sends that call no Meta under way
    outbox.free_waiting_for_credentials()   the key was fixed: every kind due at once
    outbox.backlog()                        /healthz: due rows of every kind
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Min, Q
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
from messaging.outbox.sender import send_due, send_now, send_now_many, settle

logger = logging.getLogger(__name__)


# How the sender words a send that failed because Meta refused the account's token
# (sender.py): what a reconnect sends again, of every kind, if it failed within a week.
TOKEN_REFUSED = ("invalid access token", "not sent: the account's access token is invalid")
RESEND_AFTER_RECONNECT_WITHIN = timedelta(days=7)


def resend_after_reconnect(sender, account, invalid_since, **kwargs) -> int:
    """The account was connected again (accounts.signals.account_reconnected): queue again its
    sends of every kind that failed because its token did not work. Returns how many."""
    since = max(invalid_since - timedelta(days=1), timezone.now() - RESEND_AFTER_RECONNECT_WITHIN)
    refused = Q(last_error__startswith=TOKEN_REFUSED[0]) | Q(
        last_error__startswith=TOKEN_REFUSED[1]
    )
    resent = 0
    for kind in registered():
        if not kind.calls_meta:
            continue  # its sends never used the token
        failed = kind.rows().filter(
            refused,
            **{kind.account_path: account},
            status=OutboxStatus.FAILED,
            created_at__gte=since,
        )
        resent += sum(kind.requeue(row) for row in failed.order_by("created_at", "pk"))
    if resent:
        logger.info("Account %s reconnected: %d sends that waited queued again", account, resent)
    return resent


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
        figures = due.aggregate(n=Count("pk"), first=Min("due_at"))
        count += figures["n"]
        first = figures["first"]
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
    "send_now_many",
    "settle",
]
