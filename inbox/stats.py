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
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.utils import timezone

from accounts.access import accounts_visible_to, scope, visible_account_ids
from comments.models import CommentReply
from inbox import rollups, stats_days
from inbox.models import DailyFigures, RolledUpDay
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


def figures(user, stats_range: StatsRange) -> dict:
    per_key = _figures_per_account_and_day(user, stats_range)
    # Knowledge answers: one aggregate over their own table (an answer marked wrong days
    # later changes its day, so they are not rolled up).
    start, end = stats_range.bounds()
    answers = scope(knowledge_stats.answers_between(start, end), user, "conversation__account")
    if stats_range.account is not None:
        answers = answers.filter(conversation__account_id=stats_range.account)
    names = {a.pk: str(a) for a in accounts_visible_to(user)}
    rows = []
    for (account_id, day), day_figures in sorted(
        per_key.items(),
        key=lambda item: (names.get(item[0][0], ENVIRONMENT_ACCOUNT), item[0][1]),
    ):
        count = day_figures.counts.get
        rows.append(
            {
                "account_id": account_id,
                "account": names.get(account_id, ENVIRONMENT_ACCOUNT),
                "day": day.isoformat(),
                "received": count("received", 0),
                "answered_by_rule": count("rule", 0),
                "answered_by_fallback": count("fallback", 0),
                "answered_by_person": count("person", 0),
                **day_figures.answer_times(),
                "comments_answered_privately": count("comments_private", 0),
                "comments_answered_publicly": count("comments_public", 0),
            }
        )
    rules: Counter = Counter()
    failed: Counter = Counter()
    for day_figures in per_key.values():
        if day_figures.rules:
            rules.update(day_figures.rules)
        if day_figures.failed:
            failed.update(day_figures.failed)
    return {
        "first_day": stats_range.first_day.isoformat(),
        "days": stats_range.days,
        "account": stats_range.account,
        "rows": rows,
        "top_rules": _top_rules(rules),
        "failed_sends": [{"reason": reason, "count": n} for reason, n in failed.most_common()],
        "comments_answered": {
            "privately": sum(row["comments_answered_privately"] for row in rows),
            "publicly": sum(row["comments_answered_publicly"] for row in rows),
        },
        # DMs answered from knowledge, by the assistant, handed off, answers marked wrong.
        "knowledge": knowledge_stats.counts(answers),
    }


def _figures_per_account_and_day(user, stats_range: StatsRange) -> dict:
    """The rolled-up days from the rollup, the rest counted live: a constant number of
    queries, and only the messages after the rollup's last pass counted.

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
    per_key = {}
    if stored_days:
        stored = DailyFigures.objects.filter(day__gte=stored_days[0], day__lte=stored_days[-1])
        ids = visible_account_ids(user)
        if ids is not None:
            stored = stored.filter(account_pk__in=ids)
        if stats_range.account is not None:
            stored = stored.filter(account_pk=stats_range.account)
        # A whole day's answer times are read as stored; a day with a live part needs its
        # histograms, to add the live ones to.
        per_key = {
            (row[0] or None, row[1]): stats_days.DayFigures.from_row(*row)
            for row in stored.exclude(day=live_day).values_list(*stats_days.SHOWN_FIELDS)
        }
        if live_day in stored_days:
            for row in stored.filter(day=live_day).values_list(*stats_days.ALL_FIELDS):
                per_key[(row[0] or None, row[1])] = stats_days.DayFigures.from_row(*row)
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
        messages = messages.filter(conversation__account_id=stats_range.account)
        replies = replies.filter(account_id=stats_range.account)
    for key, day_figures in stats_days.compute(messages, replies).items():
        if key in per_key:
            per_key[key].add(day_figures)  # the live part of a day rolled up in part
        else:
            per_key[key] = day_figures
    return per_key


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
