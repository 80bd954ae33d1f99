"""The dashboard's figures, per account and day: DMs received; answered by a rule, by the
fallback, by a person; time to the first answer (bot and person, median and 90th percentile);
the rules that answered most; failed sends by reason.

Every query covers one range of days through the Message (created_at) index and is scoped to
the user's accounts. Counts are aggregates in the database; the answer times need each
message's neighbours, so one query reads the range's messages (a few columns, ordered by
conversation) and Python walks it once. Percentiles are computed in Python: SQLite, MariaDB
and PostgreSQL have no common percentile function.
"""

import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from accounts.access import accounts_visible_to, scope
from messaging.models import Message

MAX_DAYS = 92
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


def _day(moment) -> date:
    value = moment.date() if isinstance(moment, datetime) else moment
    return value


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
    bot_delays, person_delays = _answer_times(messages)

    names = {a.pk: str(a) for a in accounts_visible_to(user)}
    rows = []
    for account_id, day in sorted(
        set(per_day) | set(bot_delays) | set(person_delays),
        key=lambda key: (names.get(key[0], ENVIRONMENT_ACCOUNT), key[1]),
    ):
        counts = per_day.get((account_id, day), Counter())
        bot = bot_delays.get((account_id, day), [])
        person = person_delays.get((account_id, day), [])
        rows.append(
            {
                "account_id": account_id,
                "account": names.get(account_id, ENVIRONMENT_ACCOUNT),
                "day": day.isoformat(),
                "received": counts["received"],
                "answered_by_rule": counts["rule"],
                "answered_by_fallback": counts["fallback"],
                "answered_by_person": counts["person"],
                "bot_median_seconds": _rounded(percentile(bot, 0.5)),
                "bot_p90_seconds": _rounded(percentile(bot, 0.9)),
                "person_median_seconds": _rounded(percentile(person, 0.5)),
                "person_p90_seconds": _rounded(percentile(person, 0.9)),
            }
        )
    return {
        "first_day": stats_range.first_day.isoformat(),
        "days": stats_range.days,
        "account": stats_range.account,
        "rows": rows,
        "top_rules": _top_rules(messages),
        "failed_sends": _failed_sends(messages),
        # HOOK(comments): comments answered per account and day, once the comments app lands.
        "comments_answered": None,
    }


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 1)


def _counts(messages) -> dict[tuple[int | None, date], Counter]:
    per_day: dict[tuple[int | None, date], Counter] = defaultdict(Counter)
    received = (
        messages.filter(direction=Message.Direction.INCOMING)
        .values("conversation__account_id", day=TruncDate("created_at"))
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in received:
        per_day[(row["conversation__account_id"], _day(row["day"]))]["received"] += row["n"]
    answers = (
        messages.filter(direction=Message.Direction.OUTGOING, part=1, status=Message.Status.SENT)
        .values("conversation__account_id", "author", day=TruncDate("created_at"))
        .annotate(
            n=Count("id"),
            by_rule=Count("id", filter=Q(rule__isnull=False)),
            by_fallback=Count("id", filter=Q(is_fallback=True)),
        )
        .order_by()
    )
    for row in answers:
        counts = per_day[(row["conversation__account_id"], _day(row["day"]))]
        if row["author"] in PERSON_AUTHORS:
            counts["person"] += row["n"]
        elif row["author"] == Message.Author.BOT:
            counts["rule"] += row["by_rule"]
            counts["fallback"] += row["by_fallback"]
    return per_day


def _answer_times(messages) -> tuple[dict, dict]:
    """Seconds from a customer's message to the bot's reply to it, and from the first
    unanswered customer message to the next person's answer; by account and the customer
    message's day."""
    bot: dict[tuple, list[float]] = defaultdict(list)
    person: dict[tuple, list[float]] = defaultdict(list)
    rows = (
        messages.filter(Q(direction=Message.Direction.INCOMING) | Q(part=1, status="sent"))
        .order_by("conversation_id", "created_at", "id")
        .values_list(
            "conversation_id",
            "conversation__account_id",
            "direction",
            "author",
            "timestamp",
            "created_at",
            "in_reply_to__timestamp",
        )
    )
    conversation = waiting_since = None
    for conversation_id, account_id, direction, author, sent_at, created_at, asked_at in rows:
        if conversation_id != conversation:
            conversation, waiting_since = conversation_id, None
        at = sent_at or created_at
        if direction == Message.Direction.INCOMING:
            waiting_since = waiting_since or at
        elif author == Message.Author.BOT and asked_at is not None:
            bot[(account_id, _day(asked_at))].append(max(0.0, (at - asked_at).total_seconds()))
        elif author in PERSON_AUTHORS and waiting_since is not None:
            delay = max(0.0, (at - waiting_since).total_seconds())
            person[(account_id, _day(waiting_since))].append(delay)
            waiting_since = None
    return bot, person


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
]


def daily_totals(stats: dict, days: list[date]) -> dict[str, list[float]]:
    """Every account added up, per day: what the charts draw."""
    totals = {name: [0] * len(days) for name in ("received", "rule", "fallback", "person")}
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
        if row["bot_median_seconds"] is not None:
            bot_medians[row["day"]].append(row["bot_median_seconds"])
        if row["person_median_seconds"] is not None:
            person_medians[row["day"]].append(row["person_median_seconds"])
    # Across accounts, the chart shows the slowest account's median of the day.
    totals["bot_median"] = [max(bot_medians.get(d.isoformat(), [0])) for d in days]
    totals["person_median"] = [max(person_medians.get(d.isoformat(), [0])) for d in days]
    return totals
