"""The dashboard's daily rollup: each account's figures of a UTC day (inbox.stats_days),
stored once the day has settled, so that the dashboard reads one row per account and day
instead of counting the messages of every day in its range.

A day settles a day after it ends (SETTLED_AFTER_DAYS): by then its replies are sent or have
failed (retries last minutes), and a person's answer counts on the day it was written. Days
not rolled up yet (today, yesterday, or older ones a backfill has not reached) are counted
live by the dashboard, so its figures are always whole. The worker's upkeep rolls up the
settled days (oldest first, one a pass while any is due, deliveries going first in between);
`manage.py roll_up_stats` does a backfill at once, or rolls days up again.

This is zulip's analytics pattern (a fill per closed period) rather than counters bumped as
each message changes state: the states change in the sending path and the outbox, and a day's
figures are computed by the same grouped queries whether they are read live or rolled up.
What can still change a settled day is rare: a staff retry of a send that failed days ago
(`roll_up_stats --again N` recomputes them).
"""

from datetime import UTC, date, datetime, time, timedelta

from django.db import transaction
from django.utils import timezone

from comments.models import CommentReply
from inbox import stats_days
from inbox.models import DailyFigures, RolledUpDay
from messaging.models import Message

SETTLED_AFTER_DAYS = 1
ENVIRONMENT = 0  # DailyFigures.account_pk of the environment's single account


def start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def last_settled_day(today: date | None = None) -> date:
    today = today or timezone.now().date()
    return today - timedelta(days=SETTLED_AFTER_DAYS + 1)


def roll_up(day: date) -> int:
    """Compute every account's figures of `day` and store them (again); how many accounts."""
    start, end = start_of(day), start_of(day + timedelta(days=1))
    messages = Message.objects.filter(created_at__gte=start, created_at__lt=end)
    replies = CommentReply.objects.filter(sent_at__gte=start, sent_at__lt=end)
    computed = stats_days.compute(messages, replies)
    rows = [
        DailyFigures(account_pk=account_id or ENVIRONMENT, day=day, **figures.as_json())
        for (account_id, _), figures in computed.items()
    ]
    with transaction.atomic():
        # An account with nothing left that day (its customers erased) loses its row.
        DailyFigures.objects.filter(day=day).exclude(
            account_pk__in=[row.account_pk for row in rows]
        ).delete()
        DailyFigures.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["account_pk", "day"],
            update_fields=["counts", "bot_seconds", "person_seconds", "rules", "failed"],
        )
        RolledUpDay.objects.bulk_create(
            [RolledUpDay(day=day, rolled_up_at=timezone.now())],
            update_conflicts=True,
            unique_fields=["day"],
            update_fields=["rolled_up_at"],
        )
    return len(rows)


def due_days(today: date | None = None) -> list[date]:
    """Settled days with messages or comment replies that are not rolled up, oldest first."""
    last = last_settled_day(today)
    first = _first_day()
    if first is None or first > last:
        return []
    done = set(RolledUpDay.objects.filter(day__gte=first).values_list("day", flat=True))
    days = (first + timedelta(days=n) for n in range((last - first).days + 1))
    return [day for day in days if day not in done]


def _first_day() -> date | None:
    """The day of the oldest message or comment reply (each one index seek)."""
    firsts = [
        Message.objects.order_by("created_at").values_list("created_at", flat=True).first(),
        CommentReply.objects.filter(sent_at__isnull=False)
        .order_by("sent_at")
        .values_list("sent_at", flat=True)
        .first(),
    ]
    found = [moment for moment in firsts if moment is not None]
    return min(found).astimezone(UTC).date() if found else None


def roll_up_due(limit: int = 1) -> int:
    """The worker's upkeep: roll up the oldest `limit` settled days not rolled up yet; how
    many days it did (the pass runs it again while it finds some)."""
    days = due_days()[:limit]
    for day in days:
        roll_up(day)
    return len(days)
