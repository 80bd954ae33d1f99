"""The API's message lists page by position (keyset): every message once, in order, each page
in the same few queries however long the list; crafted cursors are a 404; `?page=N` still
answers numbered pages with their count."""

import base64
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from messaging.models import Conversation, Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(admin_user):
    client = APIClient()
    client.force_authenticate(admin_user)
    return client


@pytest.fixture
def thread():
    """120 messages, some sharing a timestamp (ties are ordered by id)."""
    conversation = Conversation.objects.create(instagram_account_id="a", customer_id="1")
    start = timezone.now() - timedelta(hours=3)
    Message.objects.bulk_create(
        Message(conversation=conversation, direction="in", author="customer", text=f"m{n}")
        for n in range(120)
    )
    for n, pk in enumerate(Message.objects.order_by("id").values_list("pk", flat=True)):
        Message.objects.filter(pk=pk).update(created_at=start + timedelta(seconds=n // 3))
    return conversation


def walk(api, url):
    texts, pages, queries = [], 0, set()
    while url:
        with CaptureQueriesContext(connection) as captured:
            body = api.get(url).json()
        queries.add(len(captured))
        texts += [message["text"] for message in body["results"]]
        url, pages = body["next"], pages + 1
    return texts, pages, queries


def test_a_thread_pages_oldest_first_each_message_once(api, thread):
    texts, pages, queries = walk(api, f"/api/conversations/{thread.pk}/messages/")
    assert texts == [f"m{n}" for n in range(120)]
    assert pages == 3
    assert len(queries) == 1  # the same queries on every page


def test_the_message_list_pages_newest_first(api, thread):
    texts, _, _ = walk(api, f"/api/messages/?conversation={thread.pk}")
    assert texts == [f"m{n}" for n in reversed(range(120))]
    first = api.get("/api/messages/").json()
    assert set(first) == {"next", "previous", "results"}
    previous = api.get(api.get(first["next"]).json()["previous"]).json()
    assert previous["results"] == first["results"]


def test_numbered_pages_still_answer_with_their_count(api, thread):
    body = api.get("/api/messages/", {"page": 2}).json()
    assert body["count"] == 120
    assert [m["text"] for m in body["results"]] == [f"m{n}" for n in reversed(range(20, 70))]
    assert api.get(f"/api/conversations/{thread.pk}/messages/", {"page": 3}).json()["count"] == 120


def cursor(query: str) -> str:
    return base64.b64encode(query.encode("utf-8", "surrogatepass")).decode()


@pytest.mark.parametrize(
    "value",
    [
        "garbage",
        cursor("p=not-a-time"),
        cursor("p=2026-13-45 99:00:00"),
        cursor("p=\ud800"),
        cursor("o=99999999999999999999999&p=2026-01-01 00:00:00"),
        cursor("p=" + "9" * 5000),
    ],
)
def test_a_crafted_cursor_is_a_404(api, thread, value):
    for url in ("/api/messages/", f"/api/conversations/{thread.pk}/messages/"):
        assert api.get(url, {"cursor": value}).status_code == 404
        # A lone surrogate as Meta or a client may send it (WTF-8 bytes in the query).
        assert api.get(url + "?cursor=%ED%A0%80").status_code == 404
        # NUL anywhere in a URL is refused before any view (docs/bad-input.md).
        assert api.get(url + "?cursor=%00").status_code == 400
