"""`entry[].changes[]` becomes typed events at the edge: comments, live comments, mentions, and
the messaging fields in their changes[] form (the app dashboard's Test samples)."""

from datetime import UTC, datetime

import pytest

from comments.payloads import CommentEvent, MentionEvent
from messaging.payloads import (
    MalformedEvent,
    MessageEvent,
    Reaction,
    parse_delivery,
)
from messaging.tests.conftest import ACCOUNT_ID, CUSTOMER_ID, PAYLOADS, encode, load_payload

COMMENT_TIME = datetime(2019, 9, 23, 18, 14, 46, tzinfo=UTC)


def only_event(name):
    delivery = parse_delivery((PAYLOADS / f"{name}.json").read_bytes())
    assert delivery.ignored == []
    assert len(delivery.events) == 1
    return delivery.events[0]


def test_comment_on_a_post():
    assert only_event("comments__comment") == CommentEvent(
        account_id=ACCOUNT_ID,
        comment_id="17865799348089039",
        text="Price please? 😍",
        author_id=CUSTOMER_ID,
        author_username="jacket.fan",
        media_id="17895695668004550",
        media_product_type="FEED",
        timestamp=COMMENT_TIME,
    )


def test_reply_to_a_comment_keeps_its_parent():
    event = only_event("comments__reply")
    assert (event.parent_id, event.media_product_type) == ("17865799348089039", "REELS")


def test_comment_on_an_ad_keeps_the_ad():
    event = only_event("comments__ad")
    assert (event.ad_id, event.ad_title, event.media_product_type) == (
        "23851234567890123",
        "Winter jackets",
        "AD",
    )


def test_live_comment():
    event = only_event("live_comments__comment")
    assert event.is_live and event.media_product_type == "LIVE"


def test_the_accounts_own_comment_is_recognised():
    assert only_event("comments__by_the_account").by_the_account
    assert not only_event("comments__comment").by_the_account


def test_mention():
    assert only_event("mentions__comment") == MentionEvent(
        account_id=ACCOUNT_ID,
        media_id="17887498072083520",
        comment_id="17894227972186120",
        timestamp=COMMENT_TIME,
    )


def test_the_dashboards_messages_test_sample_is_a_message_event():
    event = only_event("changes_messages__test_sample")
    assert event == MessageEvent(
        account_id="0",
        sender_id="12334",
        recipient_id="23245",
        timestamp=datetime(2018, 5, 27, 22, 23, 44, tzinfo=UTC),  # a string, in seconds
        mid="random_mid",
        text="random_text",
    )


def test_the_dashboards_comments_test_sample_is_a_comment_event():
    event = only_event("changes_comments__test_sample")
    assert (event.account_id, event.comment_id, event.parent_id) == (
        "0",
        "17865799348089039",
        "1231231234",
    )


def test_other_messaging_fields_in_changes_form_are_the_same_events():
    event = only_event("changes_message_reactions__react")
    assert isinstance(event, Reaction)
    assert (event.mid, event.emoji, event.sender_id) == (
        "aWdfZAG1faW1zZAzpZAFYZD_text",
        "❤",
        CUSTOMER_ID,
    )


def test_millisecond_entry_times_are_read_as_milliseconds():
    payload = load_payload("comments__comment", fresh=False)
    payload["entry"][0]["time"] = 1569262486000
    event = parse_delivery(encode(payload)).events[0]
    assert event.timestamp == COMMENT_TIME


@pytest.mark.parametrize(
    "change, reason",
    [
        ("not a change", "not an object"),
        ({"value": {}}, '"field" is missing'),
        ({"field": "comments"}, '"value" is missing'),
        ({"field": "comments", "value": {"id": "1", "text": "hi"}}, '"from" is missing'),
        ({"field": "comments", "value": {"from": {"id": "2"}}}, "id is missing"),
        ({"field": "mentions", "value": {"comment_id": "1"}}, "media_id is missing"),
        (
            {"field": "messages", "value": {"sender": {"id": "1"}, "recipient": {"id": "2"}}},
            '"timestamp" is missing',
        ),
    ],
)
def test_a_malformed_change_is_contained(change, reason):
    payload = load_payload("comments__comment", fresh=False)
    payload["entry"][0]["changes"].insert(0, change)
    events = parse_delivery(encode(payload)).events
    assert isinstance(events[0], MalformedEvent) and reason in events[0].reason
    assert isinstance(events[1], CommentEvent)  # the next change still goes through


def test_changes_that_are_not_a_list_are_malformed():
    body = b'{"object": "instagram", "entry": [{"id": "1", "time": 1, "changes": {}}]}'
    [event] = parse_delivery(body).events
    assert isinstance(event, MalformedEvent) and "changes is not a list" in event.reason
