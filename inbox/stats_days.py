"""The dashboard's figures of each account and UTC day, computed from the messages and the
replies to comments: what the daily rollup (inbox.rollups) stores for a day once it has
settled, and what the dashboard counts live for the days not rolled up yet (today, yesterday).

Every figure is one grouped query over the range (the Message created_at index), whatever the
number of days, accounts or messages. Answer times are histograms (seconds rounded by
stats_sql.delay_bucket): they add up across days and accounts, and a day's histogram stays
small however many answers it has.
"""

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date

from django.db.models import Count, DateTimeField, ExpressionWrapper, F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce

from comments.models import CommentReply
from inbox.models import DailyBreakdown
from inbox.stats_sql import SecondsBetween, as_date, bucket_seconds, delay_bucket, utc_day
from messaging.models import Message
from messaging.windows import HUMAN_AGENT_WINDOW

PERSON_AUTHORS = (Message.Author.STAFF, Message.Author.BUSINESS_APP)

# The counted kinds: one count per account and day each, stored in DayFigures.counts under
# this name and added up by the dashboard. A new figure is a name here and its query below.
COUNTED = (
    "received",
    "rule",
    "fallback",
    "person",
    "comments_private",
    "comments_public",
)

Key = tuple[int | None, date]  # (account id, or None for the environment's account; UTC day)

# The answer times a day shows: DailyFigures columns, and the names of the dashboard's columns.
ANSWER_TIMES = (
    "bot_median_seconds",
    "bot_p90_seconds",
    "person_median_seconds",
    "person_p90_seconds",
)

# What the dashboard reads of a DailyFigures row: SHOWN_FIELDS for a whole day (its answer
# times as computed when rolled up), ALL_FIELDS for a day with a live part still to add. The
# answers per rule and failed sends per reason are DailyBreakdown rows, added up on their own.
SHOWN_FIELDS = ("account_pk", "day", *COUNTED, *ANSWER_TIMES)
ALL_FIELDS = (*SHOWN_FIELDS, "histograms")


@dataclass
class DayFigures:
    """One account's figures of one day."""

    # Counters while computed; plain dicts as read from the rollup (add() sums into Counters).
    counts: dict = field(default_factory=Counter)  # COUNTED kind -> n
    bot_seconds: dict = field(default_factory=Counter)  # answer time bucket -> n
    person_seconds: dict = field(default_factory=Counter)
    rules: dict = field(default_factory=Counter)  # rule id -> answers
    failed: dict = field(default_factory=Counter)  # reason -> failed sends
    # The answer times' medians and p90, as read from the rollup without its histograms.
    stored_answer_times: dict | None = None

    def add(self, other: "DayFigures") -> None:
        for name in ("counts", "bot_seconds", "person_seconds", "rules", "failed"):
            mine = getattr(self, name)
            if not isinstance(mine, Counter):
                mine = Counter(mine)
                setattr(self, name, mine)
            mine.update(getattr(other, name))
        self.stored_answer_times = None

    def answer_times(self) -> dict:
        if self.stored_answer_times is not None:
            return self.stored_answer_times
        bot, person = list(self.bot_seconds.items()), list(self.person_seconds.items())
        return {
            "bot_median_seconds": _rounded(histogram_percentile(bot, 0.5)),
            "bot_p90_seconds": _rounded(histogram_percentile(bot, 0.9)),
            "person_median_seconds": _rounded(histogram_percentile(person, 0.5)),
            "person_p90_seconds": _rounded(histogram_percentile(person, 0.9)),
        }

    def as_fields(self) -> dict:
        """The rollup's columns (DailyFigures; JSON: keys as text)."""
        return {
            **{kind: self.counts.get(kind, 0) for kind in COUNTED},
            **self.answer_times(),
            "histograms": {
                "bot": {str(bucket): n for bucket, n in self.bot_seconds.items()},
                "person": {str(bucket): n for bucket, n in self.person_seconds.items()},
            },
        }

    def breakdown(self) -> list[tuple[str, str, int]]:
        """The rollup's DailyBreakdown rows: (kind, key, n), answers per rule and failed sends
        per reason."""
        rule, failed = DailyBreakdown.Kind.RULE, DailyBreakdown.Kind.FAILED
        return [(rule, str(rule_id), n) for rule_id, n in self.rules.items() if n] + [
            (failed, reason, n) for reason, n in self.failed.items() if n
        ]

    @classmethod
    def from_row(cls, row: tuple) -> "DayFigures":
        """From a DailyFigures row's SHOWN_FIELDS or ALL_FIELDS (values_list): its counts and
        answer times (the answers per rule and failed sends are read on their own)."""
        values = dict(zip(ALL_FIELDS, row, strict=False))
        read = cls(
            counts={kind: values[kind] for kind in COUNTED if values[kind]},
            bot_seconds={},
            person_seconds={},
            rules={},
            failed={},
        )
        histograms = values.get("histograms")
        if histograms is None:
            read.stored_answer_times = {name: values[name] for name in ANSWER_TIMES}
        else:
            read.bot_seconds = {float(b): n for b, n in histograms["bot"].items()}
            read.person_seconds = {float(b): n for b, n in histograms["person"].items()}
        return read


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


def compute(messages, replies) -> dict[Key, DayFigures]:
    """The figures of `messages` (a Message queryset over a range of days, already scoped)
    and `replies` (CommentReply, the same range on sent_at), per account and day."""
    per_key: dict[Key, DayFigures] = defaultdict(DayFigures)
    _counts(messages, per_key)
    _bot_answer_times(messages, per_key)
    _person_answer_times(messages, per_key)
    _rules(messages, per_key)
    _failed_sends(messages, per_key)
    _comments_answered(replies, per_key)
    return dict(per_key)


def _counts(messages, per_key) -> None:
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
        counts = per_key[(row["conversation__account_id"], as_date(row["day"]))].counts
        if row["author"] == Message.Author.CUSTOMER:
            counts["received"] += row["n"]
        elif row["author"] in PERSON_AUTHORS:
            counts["person"] += row["n"]
        elif row["author"] == Message.Author.BOT:
            counts["rule"] += row["by_rule"]
            counts["fallback"] += row["by_fallback"]


def _bot_answer_times(messages, per_key) -> None:
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
    for row in rows:
        if row["status"] == Message.Status.SENT and row["bucket"] is not None:
            key = (row["conversation__account_id"], as_date(row["day"]))
            per_key[key].bot_seconds[max(0.0, float(row["bucket"]))] += row["n"]


def _person_answer_times(messages, per_key) -> None:
    """Seconds from the first unanswered customer message to a person's answer, per account
    and the answer's day: one query, the customer message found by the database (two index
    seeks on (conversation, created_at) per answer), one row per person's answer read."""
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
    # Without an earlier answer, customer messages count as waiting as far back as a person
    # may answer (Meta's Human Agent window): per answer, so that a day's figures do not
    # depend on the range they are read in.
    waiting_since = Coalesce(
        Subquery(previous_answer),
        ExpressionWrapper(F("created_at") - HUMAN_AGENT_WINDOW, output_field=DateTimeField()),
    )
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
        .annotate(since=waiting_since)
        .annotate(
            day=utc_day(messages, "created_at"),
            seconds=SecondsBetween(Subquery(first_waiting), Coalesce("timestamp", "created_at")),
        )
        # The status is read, not filtered (see _bot_answer_times).
        .values_list("conversation__account_id", "day", "status", "seconds")
    )
    for account_id, day, status, seconds in rows:
        if status == Message.Status.SENT and seconds is not None:
            per_key[(account_id, as_date(day))].person_seconds[bucket_seconds(seconds)] += 1


def _rules(messages, per_key) -> None:
    """Answers per rule (sent or on their way: not failed or cancelled)."""
    rows = (
        messages.filter(author=Message.Author.BOT, rule__isnull=False, part=1)
        .exclude(status__in=[Message.Status.FAILED, Message.Status.CANCELLED])
        .annotate(day=utc_day(messages, "created_at"))
        .values("conversation__account_id", "day", "rule_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in rows:
        key = (row["conversation__account_id"], as_date(row["day"]))
        per_key[key].rules[row["rule_id"]] += row["n"]


def _failed_sends(messages, per_key) -> None:
    rows = (
        messages.filter(direction=Message.Direction.OUTGOING)
        .annotate(day=utc_day(messages, "created_at"))
        # The status is grouped, not filtered (see _bot_answer_times): the failed ones of a
        # few minutes, not every failed send, are what the range's index leads to.
        .values("conversation__account_id", "day", "status", "last_error")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in rows:
        if row["status"] == Message.Status.FAILED:
            key = (row["conversation__account_id"], as_date(row["day"]))
            per_key[key].failed[reason_of(row["last_error"])] += row["n"]


def _comments_answered(replies, per_key) -> None:
    """Replies sent to comments, per account, day sent and kind. A reply Meta reported as
    sent already is not counted (it may be someone else's)."""
    rows = (
        replies.filter(status=CommentReply.Status.SENT)
        .annotate(day=utc_day(replies, "sent_at"))
        .values("account_id", "day", "kind")
        .annotate(n=Count("id"))
        .order_by()
    )
    kinds = {
        CommentReply.Kind.PRIVATE: "comments_private",
        CommentReply.Kind.PUBLIC: "comments_public",
    }
    for row in rows:
        if row["kind"] in kinds:
            per_key[(row["account_id"], as_date(row["day"]))].counts[kinds[row["kind"]]] += row["n"]


def reason_of(error: str) -> str:
    """A failure's reason without what varies between messages (attempt counts)."""
    if error.startswith("gave up after ") and ": " in error:
        error = "gave up after retries: " + error.split(": ", 1)[1]
    # Stripped: a key must not end in a space (MySQL/MariaDB's unique index ignores one).
    return error[:160].strip() or "unknown"
