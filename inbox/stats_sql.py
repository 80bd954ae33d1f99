"""The database expressions the dashboard's figures (inbox.stats) are computed with: the
seconds between two timestamps, the UTC day of one, an answer time rounded to a histogram
bucket. Each is computed by the database, on SQLite, MariaDB and PostgreSQL alike."""

import math
from datetime import UTC, date

from django.db import connections
from django.db.models import Case, F, FloatField, Func, When
from django.db.models.functions import Floor, Substr, TruncDate


class SecondsBetween(Func):
    """Seconds from one timestamp to a later one, computed by the database (no datetime is
    read into Python): julianday on SQLite, EXTRACT(EPOCH) on PostgreSQL, TIMESTAMPDIFF on
    MariaDB/MySQL."""

    output_field = FloatField()
    arity = 2

    def _compiled(self, compiler):
        earlier, later = (compiler.compile(e) for e in self.get_source_expressions())
        return earlier, later

    def as_sqlite(self, compiler, connection, **extra):
        (earlier, earlier_params), (later, later_params) = self._compiled(compiler)
        sql = f"((julianday({later}) - julianday({earlier})) * 86400.0)"
        return sql, (*later_params, *earlier_params)

    def as_postgresql(self, compiler, connection, **extra):
        (earlier, earlier_params), (later, later_params) = self._compiled(compiler)
        sql = f"CAST(EXTRACT(EPOCH FROM ({later} - {earlier})) AS DOUBLE PRECISION)"
        return sql, (*later_params, *earlier_params)

    def as_mysql(self, compiler, connection, **extra):
        (earlier, earlier_params), (later, later_params) = self._compiled(compiler)
        sql = f"(TIMESTAMPDIFF(MICROSECOND, {earlier}, {later}) / 1000000.0)"
        return sql, (*earlier_params, *later_params)


def utc_day(queryset, field: str):
    """The UTC day of `field`, as the database computes it cheapest. SQLite stores UTC
    timestamps as 'YYYY-MM-DD HH:MM:SS' text: its first ten characters are the day, where
    TruncDate would call a Python function for every row."""
    if connections[queryset.db].vendor == "sqlite":
        return Substr(field, 1, 10)
    return TruncDate(field, tzinfo=UTC)


def as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def delay_bucket(seconds):
    """An answer time, rounded (0.5 s below 10 s, 1 s below 2 minutes, 10 s below 10 minutes,
    1 minute beyond): the answer times come back as a histogram of under 200 values per
    account and day below 10 minutes, however many messages there are."""
    return Case(
        When(**{f"{seconds}__lt": 10}, then=Floor(F(seconds) * 2 + 0.5) / 2.0),
        When(**{f"{seconds}__lt": 120}, then=Floor(F(seconds) + 0.5) * 1.0),
        When(**{f"{seconds}__lt": 600}, then=Floor(F(seconds) / 10 + 0.5) * 10.0),
        default=Floor(F(seconds) / 60 + 0.5) * 60.0,
        output_field=FloatField(),
    )


def bucket_seconds(seconds: float) -> float:
    """delay_bucket's rounding done in Python, for answer times the database cannot round in
    the same query (a person's, found by subqueries)."""
    seconds = max(0.0, seconds)
    if seconds < 10:
        return math.floor(seconds * 2 + 0.5) / 2.0
    if seconds < 120:
        return float(math.floor(seconds + 0.5))
    if seconds < 600:
        return math.floor(seconds / 10 + 0.5) * 10.0
    return math.floor(seconds / 60 + 0.5) * 60.0
