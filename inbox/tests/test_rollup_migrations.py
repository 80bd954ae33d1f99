"""The rollup's migrations carry the days already rolled up, forward and back: the counts and
answer times from JSON into columns (0004), the answers per rule and failed sends per reason
from JSON into rows of their own (0006), as Django's docs test a data migration."""

from datetime import date

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

# Slow: migrates the schema back and forth (CI runs it).
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

COUNTS = {"received": 7, "rule": 3, "fallback": 2, "person": 1}
TIMES = {"bot_median_seconds": 2.5, "bot_p90_seconds": 6.0}
RULES = {"12": 2, "40": 1}
FAILED = {"gave up after retries: (#2) Service temporarily unavailable": 4}
DAY = date(2026, 11, 30)


def migrate(target):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([("inbox", target)])
    return executor.loader.project_state([("inbox", target)]).apps


@pytest.fixture
def first_rollup():
    """A day rolled up by the first rollup: everything in its JSON."""
    apps = migrate("0003_daily_figures")
    apps.get_model("inbox", "DailyFigures").objects.create(
        account_pk=5,
        day=DAY,
        figures={"counts": COUNTS, "answer_times": TIMES, "rules": RULES, "failed": FAILED},
        histograms={"bot": {"2.5": 3}, "person": {}},
    )
    apps.get_model("inbox", "DailyFigures").objects.create(account_pk=0, day=DAY, figures={})
    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())  # the suite goes on with the latest


def test_rolled_up_days_move_into_columns_and_rows_and_back(first_rollup):
    apps = migrate("0007_remove_dailyfigures_figures")
    row = apps.get_model("inbox", "DailyFigures").objects.get(account_pk=5)
    assert {name: getattr(row, name) for name in COUNTS} == COUNTS
    assert {name: getattr(row, name) for name in TIMES} == TIMES
    assert row.histograms == {"bot": {"2.5": 3}, "person": {}}
    breakdown = apps.get_model("inbox", "DailyBreakdown").objects.values_list(
        "account_pk", "day", "kind", "key", "n"
    )
    assert sorted(breakdown) == [
        (5, DAY, "failed", "gave up after retries: (#2) Service temporarily unavailable", 4),
        (5, DAY, "rule", "12", 2),
        (5, DAY, "rule", "40", 1),
    ]

    # Back (the code before reads the JSON): the rows into it again, then the columns.
    apps = migrate("0005_daily_breakdown")
    figures = dict(
        apps.get_model("inbox", "DailyFigures").objects.values_list("account_pk", "figures")
    )
    assert figures == {5: {"rules": RULES, "failed": FAILED}, 0: {"rules": {}, "failed": {}}}
    assert not apps.get_model("inbox", "DailyBreakdown").objects.exists()
    apps = migrate("0003_daily_figures")
    row = apps.get_model("inbox", "DailyFigures").objects.get(account_pk=5)
    assert row.figures["rules"] == RULES
    assert row.figures["failed"] == FAILED
    assert {kind: n for kind, n in row.figures["counts"].items() if n} == COUNTS
    no_person_times = dict.fromkeys(("person_median_seconds", "person_p90_seconds"))
    assert row.figures["answer_times"] == {**no_person_times, **TIMES}
