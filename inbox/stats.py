"""The dashboard's figures, per account and day: DMs received; answered by a rule, by the
fallback, by a person; time to the first answer (bot and person, median and 90th percentile);
the rules that answered most; failed sends by reason; answers from knowledge.

Every figure is one grouped query over the whole range (the Message created_at index), scoped
to the user's accounts: the number of queries does not grow with the days or the messages.
The bot's answer times come back as a histogram (seconds computed by the database, rounded:
see stats_sql.delay_bucket), and its percentiles are read from it in Python: SQLite, MariaDB and
PostgreSQL have no common percentile function. For a person's answer, the database finds the
first customer message it answered; one row per person's answer is read.
"""

import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.db.models import (
    Count,
    OuterRef,
    Q,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.access import accounts_visible_to, scope
from comments.models import CommentReply
from inbox.stats_sql import SecondsBetween, as_date, delay_bucket, utc_day
from instabot.rest import ID_DIGITS
from knowledge import stats as knowledge_stats
from messaging.models import Message
from rules.models import ResponseRule

MAX_DAYS = 92
DEFAULT_DAYS = 14
PERSON_AUTHORS = (Message.Author.STAFF, Message.Author.BUSINESS_APP)
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


def figures(user, stats_range: StatsRange) -> dict:
    start, end = stats_range.bounds()
    messages = scope(
        Message.objects.filter(created_at__gte=start, created_at__lt=end),
        user,
        "conversation__account",
    )
    if stats_range.account is not None:
        messages = messages.filter(conversation__account_id=stats_range.account)
    per_day = _counts(messages)
    bot_delays = _bot_answer_times(messages)
    person_delays = _person_answer_times(messages, stats_range)
    comments = _comments_answered(user, stats_range)
    answers = scope(knowledge_stats.answers_between(start, end), user, "conversation__account")
    if stats_range.account is not None:
        answers = answers.filter(conversation__account_id=stats_range.account)

    names = {a.pk: str(a) for a in accounts_visible_to(user)}
    rows = []
    for account_id, day in sorted(
        set(per_day) | set(bot_delays) | set(person_delays) | set(comments),
        key=lambda key: (names.get(key[0], ENVIRONMENT_ACCOUNT), key[1]),
    ):
        counts = per_day.get((account_id, day), {})
        person = person_delays.get((account_id, day), [])
        bot = bot_delays.get((account_id, day), [])
        answered_comments = comments.get((account_id, day), {})
        rows.append(
            {
                "account_id": account_id,
                "account": names.get(account_id, ENVIRONMENT_ACCOUNT),
                "day": day.isoformat(),
                "received": counts.get("received", 0),
                "answered_by_rule": counts.get("rule", 0),
                "answered_by_fallback": counts.get("fallback", 0),
                "answered_by_person": counts.get("person", 0),
                "bot_median_seconds": _rounded(histogram_percentile(bot, 0.5)),
                "bot_p90_seconds": _rounded(histogram_percentile(bot, 0.9)),
                "person_median_seconds": _rounded(percentile(person, 0.5)),
                "person_p90_seconds": _rounded(percentile(person, 0.9)),
                "comments_answered_privately": answered_comments.get(CommentReply.Kind.PRIVATE, 0),
                "comments_answered_publicly": answered_comments.get(CommentReply.Kind.PUBLIC, 0),
            }
        )
    return {
        "first_day": stats_range.first_day.isoformat(),
        "days": stats_range.days,
        "account": stats_range.account,
        "rows": rows,
        "top_rules": _top_rules(messages),
        "failed_sends": _failed_sends(messages),
        "comments_answered": {
            "privately": sum(row["comments_answered_privately"] for row in rows),
            "publicly": sum(row["comments_answered_publicly"] for row in rows),
        },
        # DMs answered from knowledge, by the assistant, handed off, answers marked wrong.
        "knowledge": knowledge_stats.counts(answers),
    }


def _comments_answered(user, stats_range: StatsRange) -> dict[tuple, dict[str, int]]:
    """Replies sent to comments, per account, day sent and kind: one grouped query over the
    range of the sent_at index. A reply Meta reported as sent already is not counted (it may
    be someone else's)."""
    start, end = stats_range.bounds()
    replies = scope(
        CommentReply.objects.filter(
            sent_at__gte=start, sent_at__lt=end, status=CommentReply.Status.SENT
        ),
        user,
        "account",
    )
    if stats_range.account is not None:
        replies = replies.filter(account_id=stats_range.account)
    rows = (
        replies.annotate(day=utc_day(replies, "sent_at"))
        .values("account_id", "day", "kind")
        .annotate(n=Count("id"))
        .order_by()
    )
    answered: dict[tuple, dict[str, int]] = defaultdict(dict)
    for row in rows:
        answered[(row["account_id"], as_date(row["day"]))][row["kind"]] = row["n"]
    return answered


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 1)


def histogram_percentile(histogram: list[tuple[float, int]], share: float) -> float | None:
    """Nearest-rank percentile of values given as (value, how many), as `percentile`."""
    total = sum(n for _, n in histogram)
    if not total:
        return None
    rank = max(1, math.ceil(share * total))
    seen = 0
    for value, n in sorted(histogram):
        seen += n
        if seen >= rank:
            return value
    return None


def _counts(messages) -> dict[tuple[int | None, date], dict]:
    """Counts per account and day over the whole range: one grouped query."""
    per_key: dict[tuple, dict] = defaultdict(Counter)
    answered = Q(direction=Message.Direction.OUTGOING, part=1, status=Message.Status.SENT)
    rows = (
        messages.annotate(day=utc_day(messages, "created_at"))
        .values("conversation__account_id", "day", "author")
        .annotate(
            n=Count("id", filter=Q(direction=Message.Direction.INCOMING) | answered),
            by_rule=Count("id", filter=answered & Q(rule__isnull=False)),
            by_fallback=Count("id", filter=answered & Q(is_fallback=True)),
        )
        .order_by()
    )
    for row in rows:
        counts = per_key[(row["conversation__account_id"], as_date(row["day"]))]
        if row["author"] == Message.Author.CUSTOMER:
            counts["received"] += row["n"]
        elif row["author"] in PERSON_AUTHORS:
            counts["person"] += row["n"]
        elif row["author"] == Message.Author.BOT:
            counts["rule"] += row["by_rule"]
            counts["fallback"] += row["by_fallback"]
    return {key: dict(counts) for key, counts in per_key.items()}


def _bot_answer_times(messages) -> dict[tuple[int | None, date], list[tuple[float, int]]]:
    """The bot's answer times per account and day, as a histogram: one grouped query."""
    rows = (
        messages.filter(author=Message.Author.BOT, in_reply_to__isnull=False)
        .annotate(
            day=utc_day(messages, "created_at"),
            seconds=SecondsBetween("in_reply_to__timestamp", "timestamp"),
        )
        .annotate(bucket=delay_bucket("seconds"))
        # The status is grouped, not filtered: a status filter would lead the database to the
        # (status, due_at) index, across every day, instead of the range.
        .values("conversation__account_id", "day", "status", "bucket")
        .annotate(n=Count("id"))
        .order_by()
    )
    histograms: dict[tuple, list] = defaultdict(list)
    for row in rows:
        if row["status"] == Message.Status.SENT and row["bucket"] is not None:
            key = (row["conversation__account_id"], as_date(row["day"]))
            histograms[key].append((max(0.0, float(row["bucket"])), row["n"]))
    return histograms


def _person_answer_times(messages, stats_range: StatsRange) -> dict:
    """Seconds from the first unanswered customer message to a person's answer, per account
    and the answer's day: one query, the customer message found by the database (two index
    seeks on (conversation, created_at) per answer), one row per person's answer read."""
    start, _ = stats_range.bounds()
    sent_by_a_person = Message.objects.filter(
        author__in=PERSON_AUTHORS, part=1, status=Message.Status.SENT
    )
    previous_answer = (
        sent_by_a_person.filter(
            conversation=OuterRef("conversation"), created_at__lt=OuterRef("created_at")
        )
        .order_by("-created_at")
        .values("created_at")[:1]
    )
    # Customer messages a day before the range still count as waiting.
    since = Coalesce(Subquery(previous_answer), Value(start - timedelta(days=1)))
    first_waiting = (
        Message.objects.filter(
            conversation=OuterRef("conversation"),
            direction=Message.Direction.INCOMING,
            created_at__gt=OuterRef("since"),
            created_at__lte=OuterRef("created_at"),
        )
        .order_by("created_at")
        .values(at=Coalesce("timestamp", "created_at"))[:1]
    )
    rows = (
        messages.filter(author__in=PERSON_AUTHORS, part=1)
        .annotate(since=since)
        .annotate(
            day=utc_day(messages, "created_at"),
            seconds=SecondsBetween(Subquery(first_waiting), Coalesce("timestamp", "created_at")),
        )
        # The status is read, not filtered (see _bot_answer_times).
        .values_list("conversation__account_id", "day", "status", "seconds")
    )
    person: dict[tuple, list[float]] = defaultdict(list)
    for account_id, day, status, seconds in rows:
        if status == Message.Status.SENT and seconds is not None:
            person[(account_id, as_date(day))].append(max(0.0, seconds))
    return person


def _top_rules(messages, limit: int = 10) -> list[dict]:
    """The rules that answered most: grouped by rule id alone (no join per row), then the
    keywords of the few that made the list."""
    rows = list(
        messages.filter(author=Message.Author.BOT, rule__isnull=False, part=1)
        .exclude(status__in=[Message.Status.FAILED, Message.Status.CANCELLED])
        .values("rule_id")
        .annotate(n=Count("id"))
        .order_by("-n", "rule_id")[:limit]
    )
    keywords = dict(
        ResponseRule.objects.filter(pk__in=[row["rule_id"] for row in rows]).values_list(
            "pk", "keywords"
        )
    )
    return [
        {"rule": row["rule_id"], "keywords": keywords.get(row["rule_id"], ""), "answers": row["n"]}
        for row in rows
    ]


def _failed_sends(messages) -> list[dict]:
    reasons: Counter = Counter()
    rows = (
        messages.filter(status=Message.Status.FAILED)
        .values("last_error")
        .annotate(n=Count("id"))
        .order_by("-n")[:200]
    )
    for row in rows:
        reasons[reason_of(row["last_error"])] += row["n"]
    return [{"reason": reason, "count": n} for reason, n in reasons.most_common()]


def reason_of(error: str) -> str:
    """A failure's reason without what varies between messages (attempt counts)."""
    if error.startswith("gave up after ") and ": " in error:
        error = "gave up after retries: " + error.split(": ", 1)[1]
    return error[:160] or "unknown"


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
    """Every account added up, per day: what the charts draw."""
    names = ("received", "rule", "fallback", "person", "comments_private", "comments_public")
    totals = {name: [0] * len(days) for name in names}
    index = {day.isoformat(): n for n, day in enumerate(days)}
    bot_medians: dict[str, list] = defaultdict(list)
    person_medians: dict[str, list] = defaultdict(list)
    for row in stats["rows"]:
        n = index.get(row["day"])
        if n is None:
            continue
        totals["received"][n] += row["received"]
        totals["rule"][n] += row["answered_by_rule"]
        totals["fallback"][n] += row["answered_by_fallback"]
        totals["person"][n] += row["answered_by_person"]
        totals["comments_private"][n] += row["comments_answered_privately"]
        totals["comments_public"][n] += row["comments_answered_publicly"]
        if row["bot_median_seconds"] is not None:
            bot_medians[row["day"]].append(row["bot_median_seconds"])
        if row["person_median_seconds"] is not None:
            person_medians[row["day"]].append(row["person_median_seconds"])
    # Across accounts, the chart shows the slowest account's median of the day.
    totals["bot_median"] = [max(bot_medians.get(d.isoformat(), [0])) for d in days]
    totals["person_median"] = [max(person_medians.get(d.isoformat(), [0])) for d in days]
    return totals
