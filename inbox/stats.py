"""The dashboard's figures, per account and day: DMs received; answered by a rule, by the
fallback, by a person; time to the first answer (bot and person, median and 90th percentile);
the rules that answered most; failed sends by reason.

Every query covers one day or the range through the Message (created_at) index and is scoped
to the user's accounts. Counts are aggregates in the database, a grouped query a day. Answer
times are differences of two timestamps read per day (the bot's replies), and for people only
the conversations a person answered are read. Percentiles are computed in Python: SQLite,
MariaDB and PostgreSQL have no common percentile function.
"""

import hashlib
import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.core.cache import cache
from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from accounts.access import accounts_visible_to, scope, visible_account_ids
from comments.models import CommentReply
from messaging.models import Message

MAX_DAYS = 92
# A day before today is counted once in this many seconds (the cache), then read from there.
PAST_DAYS_CACHED_FOR = 600
DEFAULT_DAYS = 14
PERSON_AUTHORS = (Message.Author.STAFF, Message.Author.BUSINESS_APP)
ENVIRONMENT_ACCOUNT = "(the environment's account)"


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
        if not days.isdigit() or not 1 <= int(days) <= MAX_DAYS:
            raise BadRange(f"days must be a number from 1 to {MAX_DAYS}")
        account = query.get("account") or None
        if account is not None and not account.isdigit():
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
    per_day = _days(
        messages, stats_range, scope_key=(visible_account_ids(user), stats_range.account)
    )
    person_delays = _person_answer_times(messages, stats_range)
    comments = _comments_answered(user, stats_range)

    names = {a.pk: str(a) for a in accounts_visible_to(user)}
    rows = []
    for account_id, day in sorted(
        set(per_day) | set(person_delays) | set(comments),
        key=lambda key: (names.get(key[0], ENVIRONMENT_ACCOUNT), key[1]),
    ):
        counts = per_day.get((account_id, day), {})
        person = person_delays.get((account_id, day), [])
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
                "bot_median_seconds": counts.get("bot_median"),
                "bot_p90_seconds": counts.get("bot_p90"),
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
        replies.annotate(day=TruncDate("sent_at", tzinfo=UTC))
        .values("account_id", "day", "kind")
        .annotate(n=Count("id"))
        .order_by()
    )
    answered: dict[tuple, dict[str, int]] = defaultdict(dict)
    for row in rows:
        answered[(row["account_id"], row["day"])][row["kind"]] = row["n"]
    return answered


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 1)


def _by_day(messages, stats_range: StatsRange):
    """(day, that day's messages) for each day of the range: a range scan of the created_at
    index each, and no date function per row (SQLite's are Python functions)."""
    start, _ = stats_range.bounds()
    for n, day in enumerate(stats_range.day_list):
        since = start + timedelta(days=n)
        yield day, messages.filter(created_at__gte=since, created_at__lt=since + timedelta(days=1))


def _days(messages, stats_range: StatsRange, scope_key) -> dict[tuple[int | None, date], dict]:
    """Each day's figures per account; a day before today is kept in the cache for a while
    (its figures barely change), so only today is counted again at every visit."""
    today = timezone.now().date()
    per_day = {}
    for day, days_messages in _by_day(messages, stats_range):
        key = "inbox-stats:" + hashlib.sha256(repr((scope_key, day)).encode()).hexdigest()
        figures = cache.get(key) if day < today else None
        if figures is None:
            figures = _one_day(days_messages)
            if day < today:
                cache.set(key, figures, PAST_DAYS_CACHED_FOR)
        for account_id, counts in figures.items():
            per_day[(account_id, day)] = counts
    return per_day


def _one_day(days_messages) -> dict[int | None, dict]:
    """One day's counts per account, and the bot's answer times (median, 90th percentile)."""
    per_account: dict[int | None, dict] = defaultdict(Counter)
    answered = Q(direction=Message.Direction.OUTGOING, part=1, status=Message.Status.SENT)
    rows = (
        days_messages.values("conversation__account_id", "author")
        .annotate(
            n=Count("id", filter=Q(direction=Message.Direction.INCOMING) | answered),
            by_rule=Count("id", filter=answered & Q(rule__isnull=False)),
            by_fallback=Count("id", filter=answered & Q(is_fallback=True)),
        )
        .order_by()
    )
    for row in rows:
        counts = per_account[row["conversation__account_id"]]
        if row["author"] == Message.Author.CUSTOMER:
            counts["received"] += row["n"]
        elif row["author"] in PERSON_AUTHORS:
            counts["person"] += row["n"]
        elif row["author"] == Message.Author.BOT:
            counts["rule"] += row["by_rule"]
            counts["fallback"] += row["by_fallback"]
    # The status is checked here, not in SQL: a status filter would lead the database to the
    # (status, next_attempt_at) index, across every day, instead of this day's created_at range.
    delays = defaultdict(list)
    replies = days_messages.filter(
        author=Message.Author.BOT, in_reply_to__isnull=False
    ).values_list("conversation__account_id", "status", "timestamp", "in_reply_to__timestamp")
    for account_id, status, answered_at, asked_at in replies:
        if status == Message.Status.SENT and answered_at and asked_at:
            delays[account_id].append(max(0.0, (answered_at - asked_at).total_seconds()))
    for account_id, seconds in delays.items():
        per_account[account_id]["bot_median"] = _rounded(percentile(seconds, 0.5))
        per_account[account_id]["bot_p90"] = _rounded(percentile(seconds, 0.9))
    return {account_id: dict(counts) for account_id, counts in per_account.items()}


def _person_answer_times(messages, stats_range: StatsRange) -> dict:
    """Seconds from the first unanswered customer message to a person's answer, per account
    and the answer's day."""
    person: dict[tuple, list[float]] = defaultdict(list)
    # A person's answer time needs the customer messages before it: read only the
    # conversations a person answered in the range.
    answers = [
        (conversation_id, account_id, timestamp, created_at)
        for conversation_id, account_id, status, timestamp, created_at in messages.filter(
            author__in=PERSON_AUTHORS, part=1
        ).values_list(
            "conversation_id", "conversation__account_id", "status", "timestamp", "created_at"
        )
        if status == Message.Status.SENT
    ]
    start, end = stats_range.bounds()
    asked = defaultdict(list)
    conversation_ids = sorted({answer[0] for answer in answers})
    for chunk in range(0, len(conversation_ids), 500):
        incoming = Message.objects.filter(
            conversation_id__in=conversation_ids[chunk : chunk + 500],
            direction=Message.Direction.INCOMING,
            created_at__gte=start - timedelta(days=1),
            created_at__lt=end,
        ).values_list("conversation_id", "timestamp", "created_at")
        for conversation_id, timestamp, created_at in incoming:
            asked[conversation_id].append(timestamp or created_at)
    last_answer: dict[int, datetime] = {}
    for conversation_id, account_id, timestamp, created_at in sorted(
        answers, key=lambda answer: (answer[0], answer[2] or answer[3])
    ):
        at = timestamp or created_at
        previous = last_answer.get(conversation_id)
        waiting = [
            t for t in asked[conversation_id] if t <= at and (previous is None or t > previous)
        ]
        last_answer[conversation_id] = at
        if waiting:
            person[(account_id, at.date())].append(max(0.0, (at - min(waiting)).total_seconds()))
    return person


def _top_rules(messages, limit: int = 10) -> list[dict]:
    rows = (
        messages.filter(author=Message.Author.BOT, rule__isnull=False, part=1)
        .exclude(status__in=[Message.Status.FAILED, Message.Status.CANCELLED])
        .values("rule_id", "rule__keywords")
        .annotate(n=Count("id"))
        .order_by("-n", "rule_id")[:limit]
    )
    return [
        {"rule": row["rule_id"], "keywords": row["rule__keywords"], "answers": row["n"]}
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
