"""The dashboard's figures, per account and day: DMs received; answered by a rule, by the
fallback, by a person; time to the first answer (bot and person, median and 90th percentile);
the rules that answered most; failed sends by reason; comments answered; answers from knowledge.

The days are read from the daily rollup (inbox.rollups: one row per account and day, today's
through a few minutes ago); what is newer, or not rolled up yet, is counted live from the
messages with the same grouped queries (inbox.stats_days). So the queries do not grow with the
days or the messages, and what is counted live is minutes of messages, not the range.
Answer times are histograms (rounded seconds), whose percentiles are read here.
"""

import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.db.models import Max, Sum
from django.utils import timezone

from accounts.access import accounts_visible_to, scope, visible_account_ids
from comments.models import CommentReply
from inbox import rollups, stats_days
from inbox.models import DailyBreakdown, DailyFigures, RolledUpDay
from instabot.rest import ID_DIGITS
from knowledge import stats as knowledge_stats
from messaging.models import Message
from rules.models import ResponseRule

MAX_DAYS = 92
DEFAULT_DAYS = 14
ENVIRONMENT_ACCOUNT = "(the environment's account)"


# A number of days in ASCII digits.
DAYS = re.compile(r"[0-9]{1,4}")


class BadRange(ValueError):
    """A dashboard range the service does not serve."""


@dataclass(frozen=True)
class StatsRange:
    first_day: date
    days: int
    account: int | None = None

    @classmethod
    def from_query(cls, query, today: date | None = None) -> "StatsRange":
        days = query.get("days") or str(DEFAULT_DAYS)
        # ASCII digits: "²".isdigit() is true, and int() refuses it.
        if not DAYS.fullmatch(days) or not 1 <= int(days) <= MAX_DAYS:
            raise BadRange(f"days must be a number from 1 to {MAX_DAYS}")
        account = query.get("account") or None
        if account is not None and not ID_DIGITS.fullmatch(account):
            raise BadRange("account must be an account's id")
        today = today or timezone.now().date()
        first_day = today - timedelta(days=int(days) - 1)
        return cls(first_day, int(days), int(account) if account else None)

    @property
    def day_list(self) -> list[date]:
        return [self.first_day + timedelta(days=n) for n in range(self.days)]

    def bounds(self) -> tuple[datetime, datetime]:
        start = datetime.combine(self.first_day, time.min, tzinfo=UTC)
        return start, start + timedelta(days=self.days)


def percentile(values: list[float], share: float) -> float | None:
    """Nearest-rank percentile (share 0.5: the median); None without values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


# A COUNTED kind's name in the dashboard's rows.
ROW_NAMES = {
    "received": "received",
    "rule": "answered_by_rule",
    "fallback": "answered_by_fallback",
    "person": "answered_by_person",
    "comments_private": "comments_answered_privately",
    "comments_public": "comments_answered_publicly",
}


@dataclass
class Totals:
    """Figures added up over accounts (a day's row) or days (an account's): the counts
    summed, each answer time the largest (the slowest account's of the day, the slowest day's
    of the account), as the database adds up the rolled-up days."""

    counts: Counter = field(default_factory=Counter)
    times: dict = field(default_factory=dict)

    def add(self, counts: dict, times: dict) -> None:
        self.counts.update({kind: n for kind, n in counts.items() if n})
        for name in stats_days.ANSWER_TIMES:
            value = times.get(name)
            if value is not None and (self.times.get(name) is None or value > self.times[name]):
                self.times[name] = value

    def row(self) -> dict:
        """The dashboard's columns (CSV_COLUMNS' order)."""
        row = {name: self.counts.get(kind, 0) for kind, name in ROW_NAMES.items()}
        row.update((name, self.times.get(name)) for name in stats_days.ANSWER_TIMES)
        return {name: row[name] for name in CSV_COLUMNS[2:]}


def figures(user, stats_range: StatsRange, *, account_days: bool = True) -> dict:
    """The range's figures: `per_day` (one row a day, every account in scope added up),
    `per_account` (one row an account, the range added up), the rules that answered most,
    failed sends, comments and knowledge answers; and with `account_days`, `rows`, one per
    account and day (the CSV's; with one account chosen, its days, at no extra cost)."""
    read = _read(user, stats_range, account_days)
    # Knowledge answers: one aggregate over their own table (an answer marked wrong days
    # later changes its day, so they are not rolled up).
    start, end = stats_range.bounds()
    answers = scope(knowledge_stats.answers_between(start, end), user, "conversation__account")
    if stats_range.account is not None:
        answers = answers.filter(conversation__account_id=stats_range.account)
    # Their names only: not their tokens and secrets, decrypted with every account read whole.
    names = {a.pk: str(a) for a in accounts_visible_to(user).only("name", "username")}
    per_day = [{"day": day.isoformat(), **read.per_day[day].row()} for day in sorted(read.per_day)]
    per_account = sorted(
        (
            {
                "account_id": account_id,
                "account": names.get(account_id, ENVIRONMENT_ACCOUNT),
                **totals.row(),
            }
            for account_id, totals in read.per_account.items()
        ),
        key=lambda row: (row["account"], row["account_id"] or 0),
    )
    result = {
        "first_day": stats_range.first_day.isoformat(),
        "days": stats_range.days,
        "account": stats_range.account,
        "per_day": per_day,
        "per_account": per_account,
        "top_rules": _top_rules(read.rules),
        "failed_sends": [
            {"reason": reason, "count": n}
            for reason, n in sorted(read.failed.items(), key=lambda item: (-item[1], item[0]))
        ],
        "comments_answered": {
            "privately": sum(row["comments_answered_privately"] for row in per_day),
            "publicly": sum(row["comments_answered_publicly"] for row in per_day),
        },
        # DMs answered from knowledge, by the assistant, handed off, answers marked wrong.
        "knowledge": knowledge_stats.counts(answers),
    }
    if account_days:
        result["rows"] = _account_day_rows(read, stats_range, names)
    return result


def _account_day_rows(read: "Read", stats_range: StatsRange, names: dict) -> list[dict]:
    if stats_range.account is not None:
        # One account: its days are the days' rows.
        account = {"account_id": stats_range.account}
        account["account"] = names.get(stats_range.account, ENVIRONMENT_ACCOUNT)
        return [
            {**account, "day": day.isoformat(), **read.per_day[day].row()}
            for day in sorted(read.per_day)
        ]
    rows = []
    for (account_id, day), day_figures in sorted(
        read.account_days.items(),
        key=lambda item: (names.get(item[0][0], ENVIRONMENT_ACCOUNT), item[0][1]),
    ):
        totals = Totals()
        totals.add(day_figures.counts, day_figures.answer_times())
        rows.append(
            {
                "account_id": account_id,
                "account": names.get(account_id, ENVIRONMENT_ACCOUNT),
                "day": day.isoformat(),
                **totals.row(),
            }
        )
    return rows


@dataclass
class Read:
    """What the dashboard read of a range: added up per day and per account, the answers per
    rule and failures per reason, and (when asked, every account) each account's days."""

    per_day: dict = field(default_factory=lambda: defaultdict(Totals))
    per_account: dict = field(default_factory=lambda: defaultdict(Totals))
    rules: Counter = field(default_factory=Counter)
    failed: Counter = field(default_factory=Counter)
    account_days: dict = field(default_factory=dict)  # Key -> DayFigures

    def add(self, account_id, day: date, counts: dict, times: dict) -> None:
        self.per_day[day].add(counts, times)
        self.per_account[account_id].add(counts, times)


def _read(user, stats_range: StatsRange, account_days: bool) -> Read:
    """The rolled-up days from the rollup, added up by the database per day and per account,
    the rest counted live: a constant number of queries, whatever the days or the accounts,
    and only the messages after the rollup's last pass counted.

    Days are rolled up in order, so the range splits at the first moment not rolled up
    (today's `through`, a few minutes ago, or the start of a day not rolled up yet): the
    days before come from the rollup, that day's rolled-up part too, and from there to the
    end of the range is counted live."""
    start, end = stats_range.bounds()
    days = stats_range.day_list
    through = dict(
        RolledUpDay.objects.filter(day__gte=days[0], day__lte=days[-1]).values_list(
            "day", "through"
        )
    )
    live_day, live_from = None, end
    for day in days:
        if day not in through or through[day] < rollups.start_of(day + timedelta(days=1)):
            live_day, live_from = day, through.get(day, rollups.start_of(day))
            break
    stored_days = [day for day in days if day in through and (live_day is None or day <= live_day)]
    read = Read()
    # The days with a live part, per account and day: their rolled-up part (with its
    # histograms, to add the live ones to), then what is counted live.
    live: dict = {}
    if stored_days:
        stored = _rolled_up(DailyFigures, user, stats_range, stored_days)
        whole = stored.exclude(day=live_day)
        _add_whole_days(whole, read)
        # The answers per rule and failed sends per reason of every rolled-up part, the live
        # day's too (its rows below carry none): the live part's are added to them.
        _add_breakdown(_rolled_up(DailyBreakdown, user, stats_range, stored_days), read)
        if account_days and stats_range.account is None:
            read.account_days = {
                (row[0] or None, row[1]): stats_days.DayFigures.from_row(row)
                for row in whole.values_list(*stats_days.SHOWN_FIELDS)
            }
        if live_day in stored_days:
            for row in stored.filter(day=live_day).values_list(*stats_days.ALL_FIELDS):
                live[(row[0] or None, row[1])] = stats_days.DayFigures.from_row(row)
    live_start = max(start, live_from)
    messages = scope(
        Message.objects.filter(created_at__gte=live_start, created_at__lt=end),
        user,
        "conversation__account",
    )
    replies = scope(
        CommentReply.objects.filter(sent_at__gte=live_start, sent_at__lt=end), user, "account"
    )
    if stats_range.account is not None:
        replies = replies.filter(account_id=stats_range.account)
    # The chosen account's messages are picked from the groups (per account already), not
    # filtered through their conversations: that filter led SQLite to walk every conversation
    # of the account (thousands of index seeks a query) instead of the minutes counted.
    for key, day_figures in stats_days.compute(messages, replies).items():
        if stats_range.account is not None and key[0] != stats_range.account:
            continue
        if key in live:
            live[key].add(day_figures)  # the live part of a day rolled up in part
        else:
            live[key] = day_figures
    for (account_id, day), day_figures in live.items():
        read.add(account_id, day, day_figures.counts, day_figures.answer_times())
        read.rules.update(day_figures.rules)
        read.failed.update(day_figures.failed)
    if account_days and stats_range.account is None:
        read.account_days.update(live)
    return read


def _rolled_up(model, user, stats_range: StatsRange, days: list[date]):
    """`model`'s rows (DailyFigures, DailyBreakdown) of `days` and the accounts in scope."""
    rows = model.objects.filter(day__gte=days[0], day__lte=days[-1])
    ids = visible_account_ids(user)
    if ids is not None:
        rows = rows.filter(account_pk__in=ids)
    if stats_range.account is not None:
        rows = rows.filter(account_pk=stats_range.account)
    return rows


def _add_whole_days(whole, read: Read) -> None:
    """The rolled-up whole days, added up by the database: one row a day and one an account
    (counts summed, answer times their maximum)."""
    for day, *values in _added_up(whole, "day"):
        read.per_day[day].add(*_counts_and_times(values))
    for account_pk, *values in _added_up(whole, "account_pk"):
        read.per_account[account_pk or None].add(*_counts_and_times(values))


def _add_breakdown(breakdown, read: Read) -> None:
    """The answers per rule and failed sends per reason, added up over the days and accounts
    by the database: one row a rule or reason."""
    rows = (
        breakdown.values("kind", "key")
        .annotate(total=Sum("n"))
        .order_by()
        .values_list("kind", "key", "total")
    )
    for kind, key, n in rows:
        if kind == DailyBreakdown.Kind.RULE:
            read.rules[int(key)] += n
        else:
            read.failed[key] += n


def _added_up(rows, by: str):
    """(by, the COUNTED kinds' sums, the ANSWER_TIMES' maximums), one row per value of `by`.
    The annotations are prefixed: one may not take a field's name."""
    added_up = {
        **{f"all_{kind}": Sum(kind) for kind in stats_days.COUNTED},
        **{f"all_{name}": Max(name) for name in stats_days.ANSWER_TIMES},
    }
    return rows.values(by).annotate(**added_up).order_by().values_list(by, *added_up)


def _counts_and_times(values: list) -> tuple[dict, dict]:
    counted = len(stats_days.COUNTED)
    return (
        dict(zip(stats_days.COUNTED, values[:counted], strict=True)),
        dict(zip(stats_days.ANSWER_TIMES, values[counted:], strict=True)),
    )


def _top_rules(answers: Counter, limit: int = 10) -> list[dict]:
    """The rules that answered most, with the keywords of the few that made the list."""
    top = sorted(answers.items(), key=lambda item: (-item[1], item[0]))[:limit]
    keywords = dict(
        ResponseRule.objects.filter(pk__in=[rule for rule, _ in top]).values_list("pk", "keywords")
    )
    return [{"rule": rule, "keywords": keywords.get(rule, ""), "answers": n} for rule, n in top]


CSV_COLUMNS = [
    "day",
    "account",
    "received",
    "answered_by_rule",
    "answered_by_fallback",
    "answered_by_person",
    "bot_median_seconds",
    "bot_p90_seconds",
    "person_median_seconds",
    "person_p90_seconds",
    "comments_answered_privately",
    "comments_answered_publicly",
]


def daily_totals(stats: dict, days: list[date]) -> dict[str, list[float]]:
    """Every account added up, per day: what the charts draw (a day's answer time: the
    slowest account's median)."""
    by_day = {row["day"]: row for row in stats["per_day"]}
    rows = [by_day.get(day.isoformat()) for day in days]
    columns = {
        **ROW_NAMES,
        "bot_median": "bot_median_seconds",
        "person_median": "person_median_seconds",
    }
    return {
        name: [(row[column] or 0) if row else 0 for row in rows] for name, column in columns.items()
    }
