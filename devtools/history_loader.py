"""A large history for measuring: accounts, conversations and messages bulk-loaded into the
configured (scratch) database, spread over past days, and the dashboard and inbox list timed
on it. For `manage.py shell`, never for a production database:

    DATABASE_URL=sqlite:////tmp/bench.sqlite3 manage.py migrate
    DATABASE_URL=sqlite:////tmp/bench.sqlite3 manage.py shell -c \\
        "from devtools import history_loader as h; h.load(); print(h.timings())"
"""

import random
import statistics
import time
from contextlib import contextmanager
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.management.color import no_style
from django.db import connection, transaction
from django.db.models import Max
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import InstagramBusinessAccount
from messaging.models import Conversation, Message
from rules.models import ResponseRule

BENCH_PREFIX = "17849000"  # instagram ids of the loaded accounts


@contextmanager
def _dated_by_hand(*models):
    """created_at as the loader says, not "now" (auto_now_add), while loading."""
    fields = [model._meta.get_field("created_at") for model in models]
    for field in fields:
        field.auto_now_add = False
    try:
        yield
    finally:
        for field in fields:
            field.auto_now_add = True


def load(
    messages: int = 1_000_000,
    conversations: int = 100_000,
    accounts: int = 50,
    days: int = 90,
    batch: int = 5_000,
    seed: int = 1,
) -> None:
    """`messages` messages in `conversations` conversations of `accounts` accounts, over the
    last `days` days: customers' DMs answered by a rule (60 %), the fallback (25 %), a person
    (10 %), or a failed send (5 %), a few seconds or minutes later."""
    rng = random.Random(seed)
    now = timezone.now()
    shops = []
    for n in range(accounts):
        shop = InstagramBusinessAccount(
            instagram_id=f"{BENCH_PREFIX}{n:05}", name=f"Bench {n}", username=f"bench{n}"
        )
        shop.set_access_token(f"EAAG-bench-{n}")
        shop.save()
        shops.append(shop)
    rules = {
        shop.pk: [
            ResponseRule.objects.create(keywords=f"word{k}", response_text="Hi", account=shop)
            for k in range(5)
        ]
        for shop in shops
    }
    staff = get_user_model().objects.filter(is_staff=True).first()

    # Rows are planned first, then inserted in time order with ids in that order, as the
    # service inserts them (a range of created_at is then a range of the table, as in life).
    per_conversation = max(2, messages // conversations)
    planned_conversations, planned = [], []
    for c in range(conversations):
        shop = shops[c % accounts]
        began = now - timedelta(seconds=rng.uniform(0, days * 86400 - 3600))
        at = began
        for _ in range(per_conversation // 2):
            answer_at = at + timedelta(seconds=rng.uniform(1, 8))
            fields = {"author": Message.Author.BOT, "status": Message.Status.SENT}
            roll = rng.random()
            if roll < 0.60:
                fields["rule_id"] = rng.choice(rules[shop.pk]).pk
            elif roll < 0.85:
                fields["is_fallback"] = True
            elif roll < 0.95:
                answer_at = at + timedelta(seconds=rng.uniform(60, 7200))
                fields = {"author": Message.Author.STAFF, "status": Message.Status.SENT}
                fields["sent_by_id"] = staff.pk if staff else None
            else:
                fields["status"] = Message.Status.FAILED
                fields["last_error"] = "gave up after 12 attempts: (#2) Service unavailable"
            answer_at = min(answer_at, now)
            # (time, conversation, order within it): a question before its answer, even when
            # both are clamped to now.
            planned.append((at, c, len(planned), None))
            planned.append((answer_at, c, len(planned), fields))
            at = min(answer_at + timedelta(seconds=rng.uniform(60, 86400)), now)
        planned_conversations.append((began, c, shop, at))

    conversation_ids = {}
    next_conversation = (Conversation.objects.aggregate(m=Max("id"))["m"] or 0) + 1
    next_message = (Message.objects.aggregate(m=Max("id"))["m"] or 0) + 1
    with _dated_by_hand(Conversation, Message), transaction.atomic():
        rows = []
        for began, c, shop, last in sorted(planned_conversations, key=lambda row: row[:2]):
            conversation_ids[c] = next_conversation
            rows.append(
                Conversation(
                    id=next_conversation,
                    instagram_account_id=shop.instagram_id,
                    account=shop,
                    customer_id=f"9{c:09}",
                    # Named long ago, as a real history's customers are.
                    customer_username=f"customer{c}",
                    profile_requested_at=began,
                    created_at=began,
                    last_message_at=last,
                )
            )
            next_conversation += 1
        Conversation.objects.bulk_create(rows, batch_size=batch)
        # A conversation's last question, to link its answer (planned in time order).
        asked_by_conversation: dict[int, int] = {}
        rows = []
        for at, c, _, fields in sorted(planned, key=lambda row: row[:3]):
            conversation_id = conversation_ids[c]
            if fields is None:
                asked_by_conversation[c] = next_message
                message = Message(
                    id=next_message,
                    conversation_id=conversation_id,
                    direction=Message.Direction.INCOMING,
                    author=Message.Author.CUSTOMER,
                    mid=f"bench-{next_message}",
                    text="hello",
                    timestamp=at,
                    created_at=at,
                )
            else:
                is_bot = fields["author"] == Message.Author.BOT
                message = Message(
                    id=next_message,
                    conversation_id=conversation_id,
                    direction=Message.Direction.OUTGOING,
                    mid=f"bench-{next_message}" if fields["status"] == "sent" else None,
                    text="answer",
                    in_reply_to_id=asked_by_conversation[c] if is_bot else None,
                    timestamp=at,
                    created_at=at,
                    **fields,
                )
            next_message += 1
            rows.append(message)
            if len(rows) >= batch:
                Message.objects.bulk_create(rows)
                rows = []
        Message.objects.bulk_create(rows)
        # The ids were given by hand: move the sequences past them (PostgreSQL), as loaddata
        # does, so that the service's own inserts afterwards get new ids.
        with connection.cursor() as cursor:
            for statement in connection.ops.sequence_reset_sql(no_style(), [Conversation, Message]):
                cursor.execute(statement)


def long_thread(messages: int = 5_000, batch: int = 5_000) -> int:
    """One conversation with `messages` messages (a customer and the bot taking turns, a
    minute apart, ending now), for timing a long thread; returns its id."""
    now = timezone.now()
    shop = InstagramBusinessAccount.objects.filter(instagram_id__startswith=BENCH_PREFIX).first()
    conversation = Conversation.objects.create(
        instagram_account_id=shop.instagram_id if shop else f"{BENCH_PREFIX}99999",
        account=shop,
        customer_id="8000000001",
        customer_username="long.thread",
        profile_requested_at=now,
        last_message_at=now,
    )
    rows = []
    with _dated_by_hand(Message):
        for n in range(messages):
            at = now - timedelta(minutes=messages - n)
            incoming = n % 2 == 0
            rows.append(
                Message(
                    conversation=conversation,
                    direction="in" if incoming else "out",
                    author=Message.Author.CUSTOMER if incoming else Message.Author.BOT,
                    status="" if incoming else Message.Status.SENT,
                    mid=f"bench-long-{n}",
                    text="hello" if incoming else "answer",
                    timestamp=at,
                    created_at=at,
                )
            )
        Message.objects.bulk_create(rows, batch_size=batch)
    return conversation.pk


def _p50(samples: list[float]) -> float:
    return round(statistics.median(samples), 3)


def time_dashboard(user, days: int, runs: int = 3) -> dict:
    """p50 seconds of the dashboard's figures for the last `days` days (cache emptied before
    each run: the cold figure), and the queries one run makes."""
    from inbox import stats

    stats_range = stats.StatsRange.from_query({"days": str(days)})
    samples, queries = [], 0
    for _ in range(runs):
        cache.clear()
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            stats.figures(user, stats_range, account_days=False)  # the page's shape
            samples.append(time.perf_counter() - started)
        queries = len(captured)
    return {"days": days, "p50_seconds": _p50(samples), "queries": queries}


def time_inbox_list(user, runs: int = 5) -> dict:
    """p50 seconds of a page of the inbox's list (/inbox/updates), and its queries."""
    client = Client()
    client.force_login(user)
    samples, queries = [], 0
    for _ in range(runs):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            assert client.get("/inbox/updates").status_code == 200
            samples.append(time.perf_counter() - started)
        queries = len(captured)
    return {"p50_seconds": _p50(samples), "queries": queries}


def timings(day_ranges=(14, 90), runs: int = 3) -> dict:
    user, _ = get_user_model().objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    return {
        "messages": Message.objects.count(),
        "dashboard": [time_dashboard(user, days, runs) for days in day_ranges],
        "inbox_list": time_inbox_list(user),
    }
