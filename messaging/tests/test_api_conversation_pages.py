"""/api/conversations/ pages by position in its order (newest activity first, the id breaking
ties): every conversation once, each page in the same queries, for every account and for one;
new conversations arriving between pages neither repeat nor hide the others; the order is read
from an index, not sorted."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import InstagramBusinessAccount
from messaging.models import Conversation

pytestmark = pytest.mark.django_db

START = timezone.now() - timedelta(days=3)


@pytest.fixture
def shops():
    made = []
    for n in range(2):
        shop = InstagramBusinessAccount(instagram_id=f"1784140000000{n}", name=f"Shop {n}")
        shop.set_access_token(f"EAAG-{n}")
        shop.save()
        made.append(shop)
    return made


@pytest.fixture
def conversations(shops):
    """130 conversations over two accounts, some sharing their last activity (ties: by id)."""
    Conversation.objects.bulk_create(
        Conversation(
            instagram_account_id=shops[n % 2].instagram_id,
            account=shops[n % 2],
            customer_id=f"9{n:05}",
            last_message_at=START + timedelta(minutes=n // 3),
        )
        for n in range(130)
    )
    newest_first = Conversation.objects.order_by("-last_message_at", "-id")
    return list(newest_first.values_list("pk", "account"))


def walk(api, url, between_pages=None):
    ids, queries = [], set()
    while url:
        with CaptureQueriesContext(connection) as captured:
            body = api.get(url).json()
        queries.add(len(captured))
        ids += [conversation["id"] for conversation in body["results"]]
        url = body["next"]
        if between_pages:
            between_pages()
    return ids, queries


def test_every_conversation_once_newest_activity_first_in_constant_queries(api, conversations):
    ids, queries = walk(api, "/api/conversations/")
    assert ids == [pk for pk, _ in conversations]
    assert len(queries) == 1  # the same queries on every page
    first = api.get("/api/conversations/").json()
    assert set(first) == {"next", "previous", "results"}  # no count of every conversation
    previous = api.get(api.get(first["next"]).json()["previous"]).json()
    assert previous["results"] == first["results"]


def test_one_accounts_conversations_page_the_same_way(api, shops, conversations):
    ids, queries = walk(api, f"/api/conversations/?account={shops[1].pk}")
    assert ids == [pk for pk, account in conversations if account == shops[1].pk]
    assert len(queries) == 1


def test_activity_between_pages_neither_repeats_nor_hides_others(api, shops, conversations):
    arrived = []

    def activity():
        # A new conversation, and new activity in one already listed: both move to the front.
        arrived.append(
            Conversation.objects.create(
                instagram_account_id=shops[0].instagram_id,
                account=shops[0],
                customer_id=f"8{len(arrived):05}",
            ).pk
        )
        Conversation.objects.filter(pk=conversations[0][0]).update(last_message_at=timezone.now())

    ids, _ = walk(api, "/api/conversations/", between_pages=activity)
    # Newer than every page read: listed on none of the next pages, and nothing else moves.
    assert ids == [pk for pk, _ in conversations]
    assert len(arrived) == 3
    newest = [c["id"] for c in api.get("/api/conversations/").json()["results"][:2]]
    assert newest == [conversations[0][0], arrived[-1]]


def test_numbered_pages_still_answer_with_their_count(api, conversations):
    body = api.get("/api/conversations/", {"page": 2}).json()
    assert body["count"] == 130
    assert [c["id"] for c in body["results"]] == [pk for pk, _ in conversations[50:100]]


def test_a_crafted_cursor_is_a_404(api, conversations):
    assert api.get("/api/conversations/", {"cursor": "garbage"}).status_code == 404


def test_a_conversation_always_has_a_last_activity():
    conversation = Conversation.objects.create(instagram_account_id="a", customer_id="1")
    assert conversation.last_message_at is not None


@pytest.mark.skipif(
    connection.vendor != "sqlite",
    reason="PostgreSQL and MariaDB plan tiny tables as scans: the bench checks them at size",
)
@pytest.mark.parametrize("account", [False, True])
def test_the_order_is_read_from_an_index_not_sorted(shops, account):
    listed = Conversation.objects.all()
    if account:
        listed = listed.filter(account_id=shops[0].pk)
    plan = listed[:50].explain()
    assert "conversation_" in plan and "activity" in plan, plan
    assert "TEMP B-TREE" not in plan, plan
