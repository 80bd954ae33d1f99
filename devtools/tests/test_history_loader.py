"""The bulk loader behind the dashboard's measurements: a small history, counted back."""

import pytest
from django.contrib.auth.models import User

from devtools import history_loader
from inbox import stats
from messaging.models import Message

pytestmark = pytest.mark.django_db


def test_a_loaded_history_is_counted_back_by_the_dashboard():
    history_loader.load(messages=2_000, conversations=200, accounts=3, days=10, batch=500)
    assert Message.objects.count() == 2_000
    admin = User.objects.create_superuser("bench")
    # 11 calendar days hold the last 10 times 24 hours.
    figures = stats.figures(admin, stats.StatsRange.from_query({"days": "11"}))
    received = sum(row["received"] for row in figures["rows"])
    assert received == Message.objects.filter(direction="in").count() == 1_000
    assert {row["account"] for row in figures["rows"]} == {
        "Bench 0 (@bench0)",
        "Bench 1 (@bench1)",
        "Bench 2 (@bench2)",
    }
    timings = history_loader.timings(day_ranges=(10,), runs=1)
    assert timings["dashboard"][0]["queries"] > 0
