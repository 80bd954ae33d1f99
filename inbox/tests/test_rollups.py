"""The dashboard's daily rollup: settled days are read from one row per account and day, the
others counted live, and the figures are the same either way."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import FloatField, Value
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from comments.models import Comment, CommentReply
from inbox import rollups
from inbox.models import DailyBreakdown, DailyFigures, RolledUpDay
from inbox.stats_sql import bucket_seconds, delay_bucket
from inbox.tests.conftest import staff
from inbox.tests.test_stats import message
from messaging.models import Conversation, Message
from messaging.worker_pass import Schedule, run_pass
from rules.models import ResponseRule

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(shop_a, shop_b):
    """Five days ending yesterday: DMs in shop A (a rule, the fallback, a person, a failed
    send), and one a day in shop B and in the environment's account."""
    rule = ResponseRule.objects.create(keywords="hours", response_text="9 to 5", account=shop_a)
    noon = timezone.now().replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(days=1)
    for n in range(5):
        at = noon - timedelta(days=n)
        one = Conversation.objects.create(
            instagram_account_id="a", customer_id=f"1{n}", account=shop_a
        )
        asked = message(one, at, direction="in", text="hours?")
        message(one, at + timedelta(seconds=2 + n), in_reply_to=asked, rule=rule, text="9 to 5")
        asked = message(one, at + timedelta(minutes=1), direction="in", text="gift?")
        message(one, at + timedelta(minutes=1, seconds=4), in_reply_to=asked, is_fallback=True)
        message(one, at + timedelta(minutes=3 + n), author="staff", text="Yes")
        message(
            one,
            at + timedelta(minutes=20),
            author="staff",
            status="failed",
            last_error=f"gave up after {n + 2} attempts: (#2) Service temporarily unavailable",
        )
        two = Conversation.objects.create(
            instagram_account_id="b", customer_id=f"2{n}", account=shop_b
        )
        message(two, at, direction="in", text="hi")
        three = Conversation.objects.create(instagram_account_id="env", customer_id=f"3{n}")
        message(three, at, direction="in", text="hello")
        comment = Comment.objects.create(
            comment_id=f"c{n}",
            instagram_account_id="a",
            account=shop_a,
            text="price?",
            commented_at=at,
        )
        CommentReply.objects.create(
            comment=comment,
            instagram_account_id="a",
            account=shop_a,
            kind=CommentReply.Kind.PRIVATE,
            status=CommentReply.Status.SENT,
            sent_at=at,
            commented_at=at,
        )
    return noon.date()


def stats(client, **query):
    response = client.get("/api/stats/", {"days": 14, **query})
    assert response.status_code == 200
    return response.json()


def test_rolled_up_days_give_the_same_figures_as_counting_them(admin_client, history, shop_a):
    live = stats(admin_client)
    live_a = stats(admin_client, account=shop_a.pk)
    call_command("roll_up_stats")
    # The four settled days, and yesterday and today through a few minutes ago.
    assert RolledUpDay.objects.count() == 6
    assert {row.day for row in DailyFigures.objects.all()} == {
        history - timedelta(days=n) for n in (0, 1, 2, 3, 4)
    }
    assert stats(admin_client) == live
    assert stats(admin_client, account=shop_a.pk) == live_a
    assert live["top_rules"][0]["answers"] == 5
    assert live["failed_sends"] == [
        {"reason": "gave up after retries: (#2) Service temporarily unavailable", "count": 5}
    ]
    assert live["comments_answered"]["privately"] == 5


def test_a_days_answers_per_rule_and_failed_sends_are_rows_of_their_own(history, shop_a):
    call_command("roll_up_stats")
    rule = ResponseRule.objects.get()
    rows = DailyBreakdown.objects.filter(account_pk=shop_a.pk, day=history)
    assert sorted(rows.values_list("kind", "key", "n")) == [
        ("failed", "gave up after retries: (#2) Service temporarily unavailable", 1),
        ("rule", str(rule.pk), 1),
    ]
    # The failed send went out after all: rolled up again, the day has no failure left.
    Message.objects.filter(status="failed", created_at__date=history).update(status="sent")
    rollups.roll_up(history)
    assert list(rows.values_list("kind", "key", "n")) == [("rule", str(rule.pk), 1)]


def test_the_environments_account_has_its_own_rolled_up_rows(admin_client, history):
    call_command("roll_up_stats")
    assert DailyFigures.objects.filter(account_pk=rollups.ENVIRONMENT).count() == 5
    rows = [row for row in stats(admin_client)["rows"] if row["account_id"] is None]
    assert [row["received"] for row in rows] == [1] * 5


def test_rolled_up_rows_keep_to_the_users_accounts(client, history, shop_a):
    call_command("roll_up_stats")
    client.force_login(staff("limited", shop_a))
    rows = stats(client)["rows"]
    assert {row["account"] for row in rows} == {"Alpha (@alpha)"}
    assert len(rows) == 5
    assert stats(client, account=shop_a.pk)["rows"] == rows


def test_the_workers_pass_rolls_up_settled_days_oldest_first_and_today(history):
    run_pass(Schedule())
    # One settled day a pass while any is due (deliveries first in between): the oldest;
    # and yesterday and today, through a few minutes ago.
    today = timezone.now().date()
    assert set(RolledUpDay.objects.values_list("day", flat=True)) == {
        history - timedelta(days=4),
        history,
        today,
    }
    assert rollups.due_days() == [history - timedelta(days=n) for n in (3, 2, 1)]
    schedule = Schedule()
    for _ in range(5):
        run_pass(schedule)
    assert RolledUpDay.objects.count() == 6
    assert rollups.due_days() == []


def test_today_is_read_from_the_rollup_and_the_minutes_since(admin_client, shop_a):
    conversation = Conversation.objects.create(
        instagram_account_id="a", customer_id="8", account=shop_a
    )
    now = timezone.now()
    midnight = rollups.start_of(now.date())
    # Before the rollup's pass (5 minutes ago), and today (past midnight, the day's start).
    earlier = max(now - timedelta(minutes=30), midnight + (now - midnight) / 2)
    asked = message(conversation, earlier, direction="in", text="?")
    reply = message(
        conversation,
        earlier + timedelta(seconds=1),
        in_reply_to=asked,
        is_fallback=True,
        status="queued",
    )
    rollups.roll_up_recent_days()
    # Newer than the rollup's pass: counted live.
    message(conversation, now, direction="in", text="and?")
    (row,) = [r for r in stats(admin_client)["rows"] if r["day"] == str(now.date())]
    assert (row["received"], row["answered_by_fallback"]) == (2, 0)
    # The reply went out since: the next pass shows it.
    Message.objects.filter(pk=reply.pk).update(status="sent")
    rollups.roll_up_recent_days()
    (row,) = [r for r in stats(admin_client)["rows"] if r["day"] == str(now.date())]
    assert (row["received"], row["answered_by_fallback"]) == (2, 1)


def test_today_is_rolled_up_through_its_oldest_reply_still_on_its_way(admin_client, shop_a):
    conversation = Conversation.objects.create(
        instagram_account_id="a", customer_id="8", account=shop_a
    )
    now = timezone.now()
    at = max(now - timedelta(minutes=3), rollups.start_of(now.date()))
    asked = message(conversation, at, direction="in", text="?")
    # Nothing on its way: through IN_FLIGHT ago, not RECENT_LAG (fewer minutes counted live).
    assert rollups.recent_through(now) == now - rollups.IN_FLIGHT
    reply = message(
        conversation,
        at + timedelta(seconds=1),
        in_reply_to=asked,
        is_fallback=True,
        status="queued",
    )
    # A reply on its way: through it, so that its sending shows at once, counted live.
    assert rollups.recent_through(now) == reply.created_at
    rollups.roll_up_recent_days()
    assert RolledUpDay.objects.get(day=now.date()).through == reply.created_at
    Message.objects.filter(pk=reply.pk).update(status="sent")
    (row,) = [r for r in stats(admin_client)["rows"] if r["day"] == str(now.date())]
    assert (row["received"], row["answered_by_fallback"]) == (1, 1)
    # One on its way for longer than RECENT_LAG holds today back no further than that.
    Message.objects.filter(pk=reply.pk).update(
        status="queued", created_at=now - timedelta(minutes=10)
    )
    assert rollups.recent_through(now) == now - rollups.RECENT_LAG


def test_rolling_a_day_up_again_follows_its_messages(admin_client, history, shop_a):
    call_command("roll_up_stats")
    old = history - timedelta(days=3)
    Message.objects.filter(status="failed", created_at__date=old).update(status="sent")
    call_command("roll_up_stats", again=3)
    (row,) = [r for r in stats(admin_client, account=shop_a.pk)["rows"] if r["day"] == str(old)]
    assert row["answered_by_person"] == 2
    assert len(stats(admin_client)["failed_sends"]) == 1
    assert stats(admin_client)["failed_sends"][0]["count"] == 4


@pytest.mark.parametrize("account", [None, "a"])
def test_the_dashboards_queries_do_not_grow_with_the_days(admin_client, history, shop_a, account):
    call_command("roll_up_stats")
    query = {"account": shop_a.pk} if account else {}
    for path in ("/api/stats/", "/api/stats/?rows=none", "/inbox/stats/", "/inbox/stats.csv"):
        counted = []
        for days in (7, 14, 90):
            with CaptureQueriesContext(connection) as captured:
                assert admin_client.get(path, {"days": days, **query}).status_code == 200
            counted.append(len(captured))
        assert len(set(counted)) == 1, (path, counted)


def test_the_dashboard_page_takes_the_same_queries_for_one_account_as_for_all(
    admin_client, history, shop_a
):
    call_command("roll_up_stats")
    counted = set()
    for query in ({}, {"account": shop_a.pk}):
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get("/inbox/stats/", {"days": 90, **query}).status_code == 200
        counted.add(len(captured))
    assert len(counted) == 1


def added_up(rows, by):
    """`rows` (per account and day) added up per `by`, as per_day and per_account say."""
    totals = {}
    for row in rows:
        total = totals.setdefault(row[by], {})
        for name, value in row.items():
            if name in ("account_id", "account", "day"):
                continue
            if name.endswith("_seconds"):
                if value is not None:
                    total[name] = max(value, total.get(name) or value)
                else:
                    total.setdefault(name, None)
            else:
                total[name] = total.get(name, 0) + value
    return totals


@pytest.mark.parametrize("rolled_up", [False, True])
def test_days_and_accounts_add_up_each_accounts_days(admin_client, history, rolled_up):
    if rolled_up:
        call_command("roll_up_stats")
    figures = stats(admin_client)
    per_day = {row.pop("day"): row for row in figures["per_day"]}
    assert per_day == added_up(figures["rows"], "day")
    assert len(per_day) == 5  # a row a day, not one per account and day
    per_account = {row.pop("account"): row for row in figures["per_account"]}
    for row in per_account.values():
        row.pop("account_id")
    assert per_account == added_up(figures["rows"], "account")
    assert per_account["Alpha (@alpha)"]["answered_by_person"] == 5
    assert per_account["(the environment's account)"]["received"] == 5
    # A day's answer times are its slowest account's; an account's, its slowest day's.
    assert per_account["Alpha (@alpha)"]["bot_p90_seconds"] == 6.0  # 2 + 4 s, on the 5th day


def test_the_api_leaves_out_each_accounts_days_when_asked(admin_client, history):
    call_command("roll_up_stats")
    full = stats(admin_client)
    short = stats(admin_client, rows="none")
    assert "rows" not in short
    assert short == {name: value for name, value in full.items() if name != "rows"}
    response = admin_client.get("/api/stats/", {"rows": "all of them"})
    assert response.status_code == 400


@pytest.mark.parametrize("rolled_up", [False, True])
def test_the_page_shows_a_row_a_day_and_one_an_account_or_the_chosen_accounts_days(
    admin_client, history, shop_a, rolled_up
):
    if rolled_up:
        call_command("roll_up_stats")
    page = admin_client.get("/inbox/stats/", {"days": 14})
    per_day = page.context["figures"]["per_day"]
    per_account = page.context["figures"]["per_account"]
    assert len(per_day) == 5
    assert [row["account"] for row in per_account] == [
        "(the environment's account)",
        "Alpha (@alpha)",
        "Bravo (@bravo)",
    ]
    assert "rows" not in page.context["figures"]
    html = page.content.decode()
    assert "Each day, every account added up" in html
    assert f"?account={shop_a.pk}&amp;days=14" in html
    chosen = admin_client.get("/inbox/stats/", {"days": 14, "account": shop_a.pk})
    assert chosen.context["figures"]["per_day"] == [
        {name: value for name, value in row.items() if name not in ("account_id", "account")}
        for row in stats(admin_client, account=shop_a.pk)["rows"]
    ]
    assert "Each day of this account" in chosen.content.decode()


@pytest.mark.parametrize(
    "seconds", [0, 0.2, 0.26, 1.74, 9.9, 10, 10.4, 59.5, 119.6, 125, 599, 600, 629, 7200.4]
)
def test_a_persons_answer_times_round_as_the_bots(seconds, shop_a):
    conversation = Conversation.objects.create(instagram_account_id="a", customer_id="9")
    message(conversation, timezone.now(), direction="in", text="?")
    (in_sql,) = (
        Message.objects.annotate(seconds=Value(float(seconds), output_field=FloatField()))
        .annotate(bucket=delay_bucket("seconds"))
        .values_list("bucket", flat=True)
    )
    assert bucket_seconds(seconds) == in_sql
