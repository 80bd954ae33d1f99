"""meta.graph's Conversations API door: typed pages, Meta's cursors, errors named as elsewhere."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import responses

from meta import conversations, graph

TOKEN = "EAAG-secret-page-token-123"
ACCOUNT_ID = "17841400000000001"
PAYLOADS = Path(__file__).parent / "payloads"


def answer(name: str) -> dict:
    return json.loads((PAYLOADS / f"{name}.json").read_text())


@pytest.fixture
def client(settings):
    return conversations.HistoryClient(
        TOKEN, base_url=settings.GRAPH_API_BASE_URL, api_version="v21.0", timeout=3
    )


def url(settings, path: str) -> str:
    return f"{settings.GRAPH_API_BASE_URL}/v21.0/{path}"


@responses.activate
def test_conversations_come_as_typed_pages_with_the_next_cursor(client, settings):
    responses.get(
        url(settings, f"{ACCOUNT_ID}/conversations"), json=answer("conversations__first_page")
    )
    page = client.list_conversations(ACCOUNT_ID)
    assert page.next_cursor == "QVFIUmNhTGZA"
    assert page.conversations[0] == conversations.ConversationSummary(
        id="aWdfZAG06MTExMTExMTExMTExMTEx",
        updated_time=datetime(2026, 11, 25, 15, 59, 12, tzinfo=UTC),
    )
    request = responses.calls[0].request
    assert request.params == {"platform": "instagram", "fields": "id,updated_time", "limit": "25"}
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"


@responses.activate
def test_the_last_page_has_no_next_cursor_and_the_cursor_is_passed_on(client, settings):
    responses.get(
        url(settings, f"{ACCOUNT_ID}/conversations"), json=answer("conversations__last_page")
    )
    page = client.list_conversations(ACCOUNT_ID, after="QVFIUmNhTGZA")
    assert page.next_cursor == ""  # Meta's `after` is there, but no `next`: nothing follows
    assert responses.calls[0].request.params["after"] == "QVFIUmNhTGZA"


@responses.activate
def test_messages_come_newest_first_with_sender_recipient_and_attachment_links(client, settings):
    conversation = "aWdfZAG06MTExMTExMTExMTExMTEx"
    responses.get(
        url(settings, f"{conversation}/messages"), json=answer("conversation_messages__page")
    )
    page = client.list_messages(conversation)
    assert page.next_cursor == "QVFIUm1zZB"
    sent, photo, first = page.messages
    assert (sent.from_id, sent.to_ids, sent.text) == (
        ACCOUNT_ID,
        ("1234567890123456",),
        "Yes, we ship to Lyon.",
    )
    assert photo.attachments == (
        conversations.HistoryAttachment(
            "image", "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1055"
        ),
    )
    assert first.text == "Bonjour 👋 do you ship to Lyon?"
    assert first.created_time == datetime(2026, 11, 25, 15, 58, 2, tzinfo=UTC)
    fields = responses.calls[0].request.params["fields"]
    assert fields == "id,created_time,from,to,message,attachments"


@pytest.mark.parametrize(
    "status, error, kind",
    [
        (
            400,
            {"message": "(#613) Calls to this api have exceeded the rate limit.", "code": 613},
            graph.RateLimitedError,
        ),
        (
            400,
            {"message": "(#4) Application request limit reached", "code": 4},
            graph.RateLimitedError,
        ),
        (
            500,
            {"message": "Unexpected", "code": 2, "is_transient": True},
            graph.TransientGraphAPIError,
        ),
        (401, {"message": "Session has expired", "code": 190}, graph.InvalidTokenError),
        (400, {"message": "(#100) Invalid parameter", "code": 100}, graph.PermanentGraphAPIError),
    ],
)
@responses.activate
def test_errors_are_named_as_for_every_other_call(client, settings, status, error, kind):
    responses.get(
        url(settings, f"{ACCOUNT_ID}/conversations"), json={"error": error}, status=status
    )
    with pytest.raises(kind):
        client.list_conversations(ACCOUNT_ID)


@responses.activate
def test_an_answer_that_is_not_a_page_is_a_permanent_error(client, settings):
    responses.get(url(settings, f"{ACCOUNT_ID}/conversations"), json={"data": {"id": "x"}})
    with pytest.raises(graph.PermanentGraphAPIError, match="without a data list"):
        client.list_conversations(ACCOUNT_ID)


@responses.activate
def test_an_unreadable_item_is_left_out_not_the_page(client, settings, caplog):
    good = {"id": "aWdfZAG06", "updated_time": "2024-05-01T12:00:00+0000"}
    responses.get(
        url(settings, f"{ACCOUNT_ID}/conversations"),
        json={"data": [{"id": "x"}, {"id": {"$gt": ""}, "updated_time": 1}, good]},
    )
    page = client.list_conversations(ACCOUNT_ID)
    assert [c.id for c in page.conversations] == ["aWdfZAG06"]
    assert caplog.text.count("unreadable conversation, left out") == 2
