"""Meta's JSON becomes typed events, once; malformed parts are contained."""

import json
from datetime import UTC, datetime

import pytest

from messaging.payloads import (
    Attachment,
    MalformedEvent,
    MessageDeleted,
    MessageEdit,
    MessageEvent,
    PayloadError,
    Postback,
    Reaction,
    Read,
    ReferralEvent,
    StoryReference,
    UnknownEvent,
    parse_delivery,
)
from messaging.tests.conftest import ACCOUNT_ID, CUSTOMER_ID, PAYLOADS, encode, load_payload


def only_event(name):
    delivery = parse_delivery((PAYLOADS / f"{name}.json").read_bytes())
    assert len(delivery.events) == 1
    return delivery.events[0]


def test_text_message():
    event = only_event("messages__text")
    assert event == MessageEvent(
        account_id=ACCOUNT_ID,
        sender_id=CUSTOMER_ID,
        recipient_id=ACCOUNT_ID,
        timestamp=datetime(2019, 9, 23, 18, 14, 45, 349000, tzinfo=UTC),
        mid="aWdfZAG1faW1zZAzpZAFYZD_text",
        text="Hello, is the blue jacket still available?",
    )
    assert event.customer_id == CUSTOMER_ID


def test_escaped_unicode_becomes_text():
    assert only_event("messages__emoji").text == "Ça marche 👍🏽 — 日本語もOK 🇯🇵"


def test_image_attachment_keeps_type_and_url():
    event = only_event("messages__image")
    assert event.text == ""
    assert event.attachments == (
        Attachment(
            "image", "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=111&signature=abc"
        ),
    )


def test_shares_and_reels():
    assert [a.type for a in only_event("messages__share").attachments] == ["share", "ig_reel"]


def test_story_mention():
    assert only_event("messages__story_mention").attachments[0].type == "story_mention"


def test_reply_to_a_story():
    event = only_event("messages__story_reply")
    assert event.reply_to_story == StoryReference(
        id="17900000000000555", url="https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=555"
    )
    assert event.text == "Love this!"


def test_reply_to_a_message():
    assert only_event("messages__reply_to").reply_to_mid == "aWdfZAG1faW1zZAzpZAFYZD_text"


def test_quick_reply():
    assert only_event("messages__quick_reply").quick_reply_payload == "HOURS"


def test_message_from_an_ad():
    referral = only_event("messages__referral").referral
    assert (referral.ref, referral.source, referral.type) == ("spring_sale", "ADS", "OPEN_THREAD")


def test_unsupported_message():
    assert only_event("messages__unsupported").is_unsupported is True


def test_deleted_message():
    assert isinstance(only_event("messages__deleted"), MessageDeleted)


def test_self_test_message():
    assert only_event("messages__self").is_self is True


def test_echo_has_the_customer_as_recipient():
    event = only_event("messages__echo")
    assert event.is_echo is True
    assert event.sender_id == ACCOUNT_ID
    assert event.customer_id == CUSTOMER_ID


def test_reaction_and_unreaction():
    react = only_event("message_reactions__react")
    assert react == Reaction(
        **_common(react),
        mid="aWdfZAG1faW1zZAzpZAFYZD_text",
        action="react",
        reaction="love",
        emoji="❤️",
    )
    unreact = only_event("message_reactions__unreact")
    assert (unreact.action, unreact.reaction, unreact.emoji) == ("unreact", "", "")


def test_read():
    assert only_event("messaging_seen__read") == Read(
        **_common(only_event("messaging_seen__read")), mid="aWdfZAG1faW1zZAzpZAFYZD_text"
    )


def test_postback():
    event = only_event("messaging_postbacks__postback")
    assert isinstance(event, Postback)
    assert (event.title, event.payload) == ("Talk to a human", "HUMAN_AGENT")


def test_referral_without_a_message():
    event = only_event("messaging_referral__referral")
    assert isinstance(event, ReferralEvent)
    assert event.referral.source == "IG_ME_LINK"


def test_message_edit():
    event = only_event("message_edit__edit")
    assert isinstance(event, MessageEdit)
    assert (event.text, event.num_edit) == ("Hello, is the red jacket still available?", 1)


def test_standby_events_are_marked():
    event = only_event("standby__text")
    assert isinstance(event, MessageEvent)
    assert event.standby is True


def test_unknown_event_kind_is_kept_as_unknown():
    event = only_event("messaging__unknown_kind")
    assert isinstance(event, UnknownEvent)
    assert event.keys == ("optin",)


def test_changes_of_fields_we_do_not_handle_are_noted_as_ignored():
    body = (
        b'{"object": "instagram", "entry": [{"id": "1", "time": 1, "changes": '
        b'[{"field": "story_insights", "value": {"media_id": "2", "reach": 3}}]}]}'
    )
    delivery = parse_delivery(body)
    assert delivery.events == []
    assert delivery.ignored == ["entry[0].changes[0] (field 'story_insights')"]


def test_other_objects_parse_to_no_events():
    delivery = parse_delivery(b'{"object": "page", "entry": [{"id": "1", "messaging": []}]}')
    assert (delivery.object, delivery.events) == ("page", [])


def test_every_event_of_a_batch_is_parsed():
    payload = load_payload("messages__text")
    events = payload["entry"][0]["messaging"]
    payload["entry"][0]["messaging"] = [
        {**events[0], "message": {"mid": f"m{i}", "text": str(i)}} for i in range(600)
    ]
    payload["entry"].append({**payload["entry"][0], "id": "17841400000000002"})
    delivery = parse_delivery(encode(payload))
    assert len(delivery.events) == 1200
    assert delivery.events[-1].account_id == "17841400000000002"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"\xff\xfe",
        b"[]",
        b"42",
        b'"instagram"',
        b"{}",
        b'{"object": "instagram"}',
        b'{"object": "instagram", "entry": {}}',
        b'{"object": 1, "entry": []}',
    ],
)
def test_unreadable_envelopes_raise_payload_error(body):
    with pytest.raises(PayloadError):
        parse_delivery(body)


@pytest.mark.parametrize(
    "item, reason",
    [
        ("just a string", "not an object"),
        ({"recipient": {"id": "1"}, "timestamp": 1, "message": {"mid": "m"}}, '"sender"'),
        ({"sender": {"id": "2"}, "recipient": {"id": "1"}, "message": {"mid": "m"}}, "timestamp"),
        (
            {
                "sender": {"id": "2"},
                "recipient": {"id": "1"},
                "timestamp": 1e30,
                "message": {"mid": "m"},
            },
            "out of range",
        ),
        (
            {
                "sender": {"id": "2"},
                "recipient": {"id": "1"},
                "timestamp": 1,
                "message": {"text": "x"},
            },
            '"mid" is missing',
        ),
        (
            {"sender": {"id": "2"}, "recipient": {"id": "1"}, "timestamp": 1, "message": "hi"},
            '"message"',
        ),
        (
            {
                "sender": {"id": "2"},
                "recipient": {"id": "1"},
                "timestamp": 1,
                "message": {"mid": "m", "text": 5},
            },
            '"text" is not a string',
        ),
        (
            {
                "sender": {"id": "2"},
                "recipient": {"id": "1"},
                "timestamp": 1,
                "message": {"mid": "m" * 256, "text": "x"},
            },
            "longer than 255",
        ),
    ],
)
def test_a_malformed_event_does_not_drop_its_neighbours(item, reason):
    payload = load_payload("messages__text")
    good = payload["entry"][0]["messaging"][0]
    payload["entry"][0]["messaging"] = [item, good]
    delivery = parse_delivery(json.dumps(payload).encode())
    malformed, parsed = delivery.events
    assert isinstance(malformed, MalformedEvent)
    assert reason in malformed.reason
    assert isinstance(parsed, MessageEvent)


def test_an_unreadable_attachment_is_left_out_and_the_message_kept():
    payload = load_payload("messages__image")
    message = payload["entry"][0]["messaging"][0]["message"]
    message["attachments"].insert(0, {"payload": {}})  # no type
    [event] = parse_delivery(encode(payload)).events
    assert isinstance(event, MessageEvent)
    assert [a.type for a in event.attachments] == ["image"]


def test_a_malformed_entry_does_not_drop_the_next_entry():
    payload = load_payload("messages__text")
    payload["entry"].insert(0, {"time": 1, "messaging": []})  # no id
    payload["entry"].insert(0, "garbage")
    events = parse_delivery(encode(payload)).events
    assert [type(e) for e in events] == [MalformedEvent, MalformedEvent, MessageEvent]


def _common(event):
    return {
        "account_id": event.account_id,
        "sender_id": event.sender_id,
        "recipient_id": event.recipient_id,
        "timestamp": event.timestamp,
    }
