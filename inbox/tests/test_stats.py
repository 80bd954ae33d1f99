"""The dashboard: per account and day, what came in, who answered, how fast; as a page with
charts, as CSV and as JSON (/api/stats/)."""

import csv
import io
from datetime import date, timedelta

import pytest
from django.utils import timezone

from inbox import charts, durations
from inbox.stats import percentile
from messaging.models import Conversation, Message
from rules.models import ResponseRule

pytestmark = pytest.mark.django_db


def message(conversation, at, **fields):
    defaults = {"direction": "out", "status": "sent", "author": "bot"}
    if fields.get("direction") == "in":
        defaults = {"author": "customer", "status": ""}
    created = Message.objects.create(conversation=conversation, **{**defaults, **fields})
    Message.objects.filter(pk=created.pk).update(created_at=at, timestamp=at)
    created.refresh_from_db()
    return created


@pytest.fixture
def day(shop_a, shop_b):
    """Today at 10:00 in shop A: one DM a rule answered in 2 s, one the fallback answered in
    4 s that a person answered 10 minutes later, one failed send; and a DM in shop B."""
    rule = ResponseRule.objects.create(keywords="hours", response_text="9 to 5", account=shop_a)
    ten = timezone.now().replace(hour=10, minute=0, second=0, microsecond=0)
    if ten > timezone.now():
        ten -= timedelta(days=1)
    one = Conversation.objects.create(instagram_account_id="a", customer_id="1", account=shop_a)
    asked = message(one, ten, direction="in", text="hours?")
    message(one, ten + timedelta(seconds=2), in_reply_to=asked, rule=rule, text="9 to 5")
    two = Conversation.objects.create(instagram_account_id="a", customer_id="2", account=shop_a)
    asked = message(two, ten, direction="in", text="gift?")
    message(two, ten + timedelta(seconds=4), in_reply_to=asked, is_fallback=True, text="Thanks")
    message(two, ten + timedelta(minutes=10), author="staff", text="Yes")
    message(
        two,
        ten + timedelta(minutes=11),
        author="staff",
        status="failed",
        last_error="gave up after 12 attempts: (#2) Service temporarily unavailable",
    )
    three = Conversation.objects.create(instagram_account_id="b", customer_id="3", account=shop_b)
    message(three, ten, direction="in", text="hi")
    return ten.date()


def rows_of(client, **query):
    response = client.get("/api/stats/", query)
    assert response.status_code == 200
    return response.json()


def test_figures_per_account_and_day(admin_client, day, shop_a):
    figures = rows_of(admin_client, account=shop_a.pk)
    (row,) = figures["rows"]
    assert row["day"] == day.isoformat()
    assert (row["received"], row["answered_by_rule"], row["answered_by_fallback"]) == (2, 1, 1)
    assert row["answered_by_person"] == 1
    assert (row["bot_median_seconds"], row["bot_p90_seconds"]) == (2.0, 4.0)
    assert row["person_median_seconds"] == 600.0
    assert figures["top_rules"] == [
        {"rule": figures["top_rules"][0]["rule"], "keywords": "hours", "answers": 1}
    ]
    assert figures["failed_sends"] == [
        {"reason": "gave up after retries: (#2) Service temporarily unavailable", "count": 1}
    ]


def test_every_account_by_default(admin_client, day):
    accounts = {row["account"] for row in rows_of(admin_client)["rows"]}
    assert accounts == {"Alpha (@alpha)", "Bravo (@bravo)"}


def test_the_csv_has_the_same_figures(admin_client, day, shop_a):
    response = admin_client.get("/inbox/stats.csv", {"account": shop_a.pk})
    assert response["Content-Type"].startswith("text/csv")
    (row,) = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert (row["received"], row["answered_by_person"], row["person_median_seconds"]) == (
        "2",
        "1",
        "600.0",
    )


@pytest.mark.parametrize(
    "seconds, shown",
    [
        (None, "\u2013"),
        (0.0, "0 s"),
        (2.5, "2.5 s"),
        (59.9, "59.9 s"),
        (60.0, "1 min"),
        (90.0, "1.5 min"),
        (600.0, "10 min"),
        (3600.0, "1 h"),
        (5400.0, "1.5 h"),
        (86400.0, "1 day"),
        (105660.0, "1.2 days"),
        (864000.0, "10 days"),
    ],
)
def test_answer_times_read_in_the_largest_unit_they_reach(seconds, shown):
    assert durations.readable(seconds) == shown


def test_the_dashboard_shows_long_answer_times_in_hours_or_days_not_seconds(admin_client, shop_a):
    """A person answered 29 h 21 min later: 1.2 days on the page (the seconds on hover), in
    days on the chart; the API and the CSV keep seconds."""
    conversation = Conversation.objects.create(
        instagram_account_id="a", customer_id="1", account=shop_a
    )
    asked_at = timezone.now() - timedelta(days=3)
    message(conversation, asked_at, direction="in", text="Still open?")
    message(conversation, asked_at + timedelta(seconds=105660), author="staff", text="Yes")
    page = admin_client.get("/inbox/stats/").content.decode()
    assert '<td title="105660.0 s">1.2 days</td>' in page
    assert ">105660.0 s<" not in page
    assert "Median time to the first answer (days)" in page
    answered = [row for row in rows_of(admin_client)["rows"] if row["answered_by_person"]]
    assert [row["person_median_seconds"] for row in answered] == [105660.0]


def test_a_charts_texts_are_escaped():
    chart = charts.bar_chart(
        "<i>Answers</i>", [date(2026, 12, 1)], [("<b>rule</b>", 'a"b', [3])], stacked=True
    )
    assert "<b>" not in chart and "<i>" not in chart
    assert '<rect class="a&quot;b"' in chart
    assert "<title>2026-12-01 &lt;b&gt;rule&lt;/b&gt;: 3</title>" in chart


def test_the_dashboard_draws_its_charts_as_svg(admin_client, day):
    page = admin_client.get("/inbox/stats/").content.decode()
    assert page.count("<svg") == 4
    # A person answered in 10 minutes, the bot in seconds: the answer times' chart in minutes.
    assert "Median time to the first answer (minutes)" in page
    assert '<td title="600.0 s">10 min</td>' in page
    assert "DMs answered per day" in page
    assert "hours" in page  # the rule that answered most
    assert "Service temporarily unavailable" in page


@pytest.mark.parametrize(
    "query",
    [
        {"days": "0"},
        {"days": "1000"},
        {"account": "x"},
        {"days": "\u00b2"},
        {"account": "\u00b2"},
        {"account": "\u0663"},
        {"account": "99999999999999999999"},
        {"days": "9" * 5000},
    ],
)
def test_a_bad_range_is_a_400(admin_client, query):
    assert admin_client.get("/inbox/stats/", query).status_code == 400
    assert admin_client.get("/inbox/stats.csv", query).status_code == 400
    assert admin_client.get("/api/stats/", query).status_code == 400


def test_percentiles_are_nearest_rank():
    assert percentile([], 0.5) is None
    assert percentile([3, 1, 2], 0.5) == 2
    assert percentile(list(range(1, 11)), 0.9) == 9
    assert percentile([5], 0.9) == 5


def test_the_queries_do_not_grow_with_the_days_or_the_messages(admin_client, day, shop_a):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries(days):
        with CaptureQueriesContext(connection) as captured:
            rows_of(admin_client, days=days)
        return len(captured)

    week = queries(7)
    assert queries(90) == week
    conversation = Conversation.objects.create(
        instagram_account_id="a", customer_id="4", account=shop_a
    )
    for n in range(30):
        at = timezone.now() - timedelta(days=n)
        asked = message(conversation, at, direction="in", text="more?")
        message(conversation, at + timedelta(seconds=3), in_reply_to=asked, is_fallback=True)
    assert queries(90) == week


def test_bot_answer_times_are_read_from_a_rounded_histogram(admin_client, shop_a):
    conversation = Conversation.objects.create(
        instagram_account_id="a", customer_id="5", account=shop_a
    )
    noon = timezone.now().replace(hour=12, minute=0, second=0, microsecond=0)
    if noon > timezone.now():
        noon -= timedelta(days=1)
    for n, seconds in enumerate([1.2, 1.3, 2.6, 45.4, 700]):
        asked = message(conversation, noon + timedelta(minutes=n * 20), direction="in", text="?")
        message(
            conversation,
            noon + timedelta(minutes=n * 20, seconds=seconds),
            in_reply_to=asked,
            is_fallback=True,
        )
    (row,) = rows_of(admin_client, account=shop_a.pk)["rows"]
    assert (row["bot_median_seconds"], row["bot_p90_seconds"]) == (2.5, 720.0)
