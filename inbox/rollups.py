"""The dashboard's daily rollup: each account's figures of a UTC day (inbox.stats_days),
stored so that the dashboard adds up one row per account and day (DailyFigures, and a row
per rule and per failure's reason in DailyBreakdown) instead of counting the messages of
every day in its range.

Two upkeep steps of the worker keep it:
- today and yesterday are computed again every REPLY_SWEEP_INTERVAL, through the oldest of
  their messages whose figures may still change (a reply queued or on its way), at least
  through RECENT_LAG ago and at most through IN_FLIGHT ago (`RolledUpDay.through`,
  `recent_through`): the dashboard counts live only what is newer;
- a day is rolled up a last time once it has settled, a day after it ends
  (SETTLED_AFTER_DAYS: its replies are sent or have failed, retries last minutes; a person's
  answer counts on the day it was written), oldest first, one day a pass while any is due
  (a backfill after an upgrade goes a day at a time, the deliveries waiting first in between;
  `manage.py roll_up_stats` does it at once).

Each computation recomputes the day from its messages, with the same grouped queries the
dashboard counts live with: so the rollup cannot drift from the messages, two workers doing
it at once write the same rows, and a rolled-up day shows what counting it would. What can
still change a settled day is rare: a staff retry of a send that failed days ago
(`roll_up_stats --again N` recomputes the last N settled days).

This is zulip's analytics pattern (a fill per closed period) rather than counters bumped as
each message changes state: the states change in the sending path, where every counter would
be more statements per DM.
"""

from datetime import UTC, date, datetime, time, timedelta

from django.db import transaction
from django.db.models import Min
from django.utils import timezone

from comments.models import CommentReply
from inbox import stats_days
from inbox.models import DailyBreakdown, DailyFigures, RolledUpDay
from instabot.upserts import upsert_target
from messaging.models import Message

SETTLED_AFTER_DAYS = 1
# Today is rolled up through this long ago at least: what is newer and still queued or being
# sent may change (a reply on its way), and is counted live.
RECENT_LAG = timedelta(minutes=5)
# … and at most through this long ago, for the rows of transactions still under way (their
# created_at is when they were written, not when they became visible).
IN_FLIGHT = timedelta(seconds=30)
# The outgoing messages whose figures may still change: not yet sent, failed or cancelled.
UNSETTLED_STATUSES = (Message.Status.QUEUED, Message.Status.SENDING)
ENVIRONMENT = 0  # DailyFigures.account_pk of the environment's single account


def start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def settles_at(day: date) -> datetime:
    return start_of(day + timedelta(days=1 + SETTLED_AFTER_DAYS))


def roll_up(day: date, through: datetime | None = None) -> int:
    """Compute every account's figures of `day`, of the messages created before `through`
    (default: the whole day), and store them; how many accounts had some."""
    start, end = start_of(day), start_of(day + timedelta(days=1))
    through = end if through is None else max(start, min(through, end))
    messages = Message.objects.filter(created_at__gte=start, created_at__lt=through)
    replies = CommentReply.objects.filter(sent_at__gte=start, sent_at__lt=through)
    computed = stats_days.compute(messages, replies)
    rows = [
        DailyFigures(account_pk=account_id or ENVIRONMENT, day=day, **figures.as_fields())
        for (account_id, _), figures in computed.items()
    ]
    breakdown = [
        DailyBreakdown(account_pk=account_id or ENVIRONMENT, day=day, kind=kind, key=key, n=n)
        for (account_id, _), figures in computed.items()
        for kind, key, n in figures.breakdown()
    ]
    with transaction.atomic():
        # An account with nothing left that day (its customers erased) loses its row.
        DailyFigures.objects.filter(day=day).exclude(
            account_pk__in=[row.account_pk for row in rows]
        ).delete()
        DailyFigures.objects.bulk_create(
            rows,
            update_conflicts=True,
            update_fields=[*stats_days.COUNTED, *stats_days.ANSWER_TIMES, "histograms"],
            **upsert_target(["account_pk", "day"]),
        )
        # The day's answers per rule and failed sends per reason, as computed now: a rule or
        # reason gone since loses its row. An upsert, as above: a second worker rolling the
        # same day up at once (its deletion blind to the rows inserted meanwhile) writes the
        # same counts over them.
        DailyBreakdown.objects.filter(day=day).delete()
        DailyBreakdown.objects.bulk_create(
            breakdown,
            update_conflicts=True,
            update_fields=["n"],
            **upsert_target(["account_pk", "day", "kind", "key"]),
        )
        RolledUpDay.objects.bulk_create(
            [RolledUpDay(day=day, through=through, rolled_up_at=timezone.now())],
            update_conflicts=True,
            update_fields=["through", "rolled_up_at"],
            **upsert_target(["day"]),
        )
    return len(rows)


def due_days(now: datetime | None = None) -> list[date]:
    """Settled days with messages or comment replies not rolled up since they settled,
    oldest first."""
    now = now or timezone.now()
    last = now.date() - timedelta(days=SETTLED_AFTER_DAYS + 1)
    first = _first_day()
    if first is None or first > last:
        return []
    done = {
        day
        for day, rolled_up_at in RolledUpDay.objects.filter(day__gte=first).values_list(
            "day", "rolled_up_at"
        )
        if rolled_up_at >= settles_at(day)
    }
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


def roll_up_settled_days(limit: int = 1) -> int:
    """Upkeep: roll up the oldest `limit` settled days not rolled up since they settled; how
    many (the pass runs it again while it finds some)."""
    days = due_days()[:limit]
    for day in days:
        roll_up(day)
    return len(days)


def recent_through(now: datetime) -> datetime:
    """How far yesterday and today are rolled up: through their oldest message still queued
    or being sent (what is older no longer changes), but no further back than RECENT_LAG ago,
    and IN_FLIGHT ago when none is.

    The dashboard counts live what is newer: at a busy time, the messages since the last
    pass and of IN_FLIGHT, instead of RECENT_LAG's too (at 50 DMs a second, 30,000 messages
    counted at each request)."""
    yesterday = start_of(now.date() - timedelta(days=SETTLED_AFTER_DAYS))
    oldest_unsettled = Message.objects.filter(
        status__in=UNSETTLED_STATUSES, created_at__gte=yesterday
    ).aggregate(oldest=Min("created_at"))["oldest"]
    latest = now - IN_FLIGHT
    if oldest_unsettled is None:
        return latest
    return max(now - RECENT_LAG, min(latest, oldest_unsettled))


def roll_up_recent_days() -> None:
    """Upkeep: yesterday and today again, through `recent_through`."""
    now = timezone.now()
    today = now.date()
    through = recent_through(now)
    for day in (today - timedelta(days=SETTLED_AFTER_DAYS), today):
        roll_up(day, through=through)
