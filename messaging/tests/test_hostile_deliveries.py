"""Signed deliveries built to hurt: each gets a clear answer, and nothing readable is lost."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from messaging.models import Conversation, Message, WebhookDelivery
from messaging.payloads import MessageEdit, MessageEvent, PayloadError, parse_delivery
from messaging.tests.conftest import CUSTOMER_ID, answer_send, encode, load_payload, sends
from rules.models import ResponseRule

pytestmark = pytest.mark.django_db


def nested(levels: int) -> bytes:
    return b'{"object": "instagram", "entry": ' + b"[" * levels + b"]" * levels + b"}"


def with_escapes(payload: dict, **replacements: str) -> bytes:
    """The payload as Meta encodes it, with JSON escapes put in place of marker strings."""
    body = encode(payload).decode()
    for marker, escape in replacements.items():
        body = body.replace(marker, escape)
    return body.encode()


def test_a_delivery_nested_1000_levels_deep_is_400_and_kept_as_rejected(deliver, caplog):
    body = nested(1000)
    response = deliver(body)

    assert response.status_code == 400
    assert b"nested too deeply" in response.content
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == WebhookDelivery.State.REJECTED
    assert bytes(delivery.body) == body
    assert "nested too deeply" in caplog.text


def test_a_deeply_nested_delivery_for_a_stored_account_is_400_too(deliver):
    response = deliver(nested(5000), path="/webhooks/instagram/17841400000000001")
    assert response.status_code == 400
    assert WebhookDelivery.objects.get().state == WebhookDelivery.State.REJECTED


def test_parsing_refuses_deep_nesting_with_a_payload_error():
    with pytest.raises(PayloadError, match="nested too deeply"):
        parse_delivery(nested(100_000))


def test_a_lone_surrogate_in_the_text_is_stored_as_a_replacement_character_and_answered(
    deliver, graph_api, run_worker
):
    answer_send(graph_api, message_id="aWdfZAG1sent-surrogate")
    payload = load_payload("messages__text")
    payload["entry"][0]["messaging"][0]["message"]["text"] = "price? MARK"
    response = deliver(with_escapes(payload, MARK="\\ud800"))
    run_worker()

    assert response.status_code == 200
    assert WebhookDelivery.objects.get().state == WebhookDelivery.State.PROCESSED
    message = Message.objects.get(direction=Message.Direction.INCOMING)
    assert message.text == "price? \ufffd"
    reply = Message.objects.get(author=Message.Author.BOT)
    assert (reply.status, reply.mid) == ("sent", "aWdfZAG1sent-surrogate")
    assert len(sends(graph_api)) == 1


def test_a_lone_surrogate_in_the_sender_id_is_stored_as_its_escape_and_answered(
    deliver, graph_api, run_worker
):
    answer_send(graph_api)
    payload = load_payload("messages__text")
    payload["entry"][0]["messaging"][0]["sender"]["id"] = CUSTOMER_ID + "MARK"
    deliver(with_escapes(payload, MARK="\\udc00"))
    run_worker()

    conversation = Conversation.objects.get()
    assert conversation.customer_id == CUSTOMER_ID + "\\udc00"
    assert Message.objects.filter(direction=Message.Direction.INCOMING).count() == 1
    assert Message.objects.get(author=Message.Author.BOT).status == "sent"
    assert json.loads(sends(graph_api)[0].request.body)["recipient"]["id"] == (
        CUSTOMER_ID + "\\udc00"
    )


def test_a_surrogate_pair_is_one_character_and_stays_as_it_is():
    payload = load_payload("messages__text")
    payload["entry"][0]["messaging"][0]["message"]["text"] = "MARK"
    (event,) = parse_delivery(with_escapes(payload, MARK="\\ud83d\\ude00")).events
    assert isinstance(event, MessageEvent)
    assert event.text == "\U0001f600"


def test_lone_surrogates_in_keys_and_mids_never_reach_the_database(deliver):
    payload = load_payload("messages__text")
    item = payload["entry"][0]["messaging"][0]
    item["message"]["mid"] = "mid-MARK"
    payload["entry"][0]["KEYMARK"] = {}
    response = deliver(with_escapes(payload, MARK="\\udfff"))

    assert response.status_code == 200
    assert WebhookDelivery.objects.get().state == WebhookDelivery.State.PROCESSED
    assert Message.objects.get(direction=Message.Direction.INCOMING).mid == "mid-\\udfff"


def test_mids_differing_only_in_lone_surrogates_are_two_messages_both_answered(
    deliver, graph_api, run_worker
):
    ResponseRule.objects.create(keywords="price", response_text="10 euros")
    answer_send(graph_api)
    for n, surrogate in enumerate(["\\ud800", "\\udc01"]):
        payload = load_payload("messages__text")
        payload["entry"][0]["messaging"][0]["message"]["mid"] = "aWdfZAG1MARK"
        payload["entry"][0]["messaging"][0]["message"]["text"] = f"price? {n} MARK"
        assert deliver(with_escapes(payload, MARK=surrogate)).status_code == 200
    run_worker()

    incoming = Message.objects.filter(direction=Message.Direction.INCOMING).order_by("id")
    assert [m.mid for m in incoming] == ["aWdfZAG1\\ud800", "aWdfZAG1\\udc01"]
    assert [m.text for m in incoming] == ["price? 0 \ufffd", "price? 1 \ufffd"]
    bot_replies = Message.objects.filter(author=Message.Author.BOT)
    assert list(bot_replies.values_list("text", flat=True)) == ["10 euros", "10 euros"]
    assert set(bot_replies.values_list("status", flat=True)) == {"sent"}


def test_an_id_longer_than_its_column_once_escaped_is_refused():
    payload = load_payload("messages__text")
    payload["entry"][0]["messaging"][0]["sender"]["id"] = "1" * 60 + "MARK"
    (event,) = parse_delivery(with_escapes(payload, MARK="\\udc00")).events
    assert not isinstance(event, MessageEvent)


def test_an_edit_count_too_large_for_the_database_skips_only_that_event(deliver):
    payload = load_payload("message_edit__edit")
    payload["entry"][0]["messaging"][0]["message_edit"]["num_edit"] = 2**40
    (event,) = parse_delivery(encode(payload)).events
    assert not isinstance(event, MessageEdit)

    response = deliver(payload)
    assert response.status_code == 200
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == WebhookDelivery.State.PROCESSED
    assert "num_edit" in delivery.error


def test_a_message_dated_in_the_year_9999_is_stored_as_received_now(deliver, caplog):
    payload = load_payload("messages__text")
    payload["entry"][0]["messaging"][0]["timestamp"] = 253402300799999
    before = timezone.now()
    assert deliver(payload).status_code == 200
    after = timezone.now()

    message = Message.objects.get(direction=Message.Direction.INCOMING)
    assert before <= message.timestamp <= after
    assert before <= Conversation.objects.get().last_message_at <= after
    assert "is in the future" in caplog.text


def test_a_timestamp_a_few_hours_ahead_is_kept_as_it_is():
    payload = load_payload("messages__text")
    ahead = timezone.now() + timedelta(hours=3)
    payload["entry"][0]["messaging"][0]["timestamp"] = int(ahead.timestamp() * 1000)
    (event,) = parse_delivery(encode(payload)).events
    assert abs(event.timestamp - ahead) < timedelta(milliseconds=1)


def test_a_nul_in_a_dm_is_removed_and_the_dm_stored_and_answered(deliver, graph_api, run_worker):
    ResponseRule.objects.create(keywords="price", response_text="10 euros")
    answer_send(graph_api)
    payload = load_payload("messages__text")
    payload["entry"][0]["messaging"][0]["message"]["text"] = "pri\x00ce?"
    assert deliver(payload).status_code == 200
    run_worker()

    assert Message.objects.get(direction=Message.Direction.INCOMING).text == "price?"
    assert Message.objects.get(author=Message.Author.BOT).text == "10 euros"
    assert len(sends(graph_api)) == 1


def test_a_nul_in_a_tap_title_and_payload_is_removed_and_the_tap_answered(
    deliver, graph_api, run_worker
):
    ResponseRule.objects.create(keywords="prices", response_text="10 euros")
    answer_send(graph_api)
    payload = load_payload("messaging_postbacks__postback")
    postback = payload["entry"][0]["messaging"][0]["postback"]
    postback["title"], postback["payload"] = "Pri\x00ces", "\x00UNKNOWN"
    assert deliver(payload).status_code == 200
    run_worker()

    tap = Message.objects.get(direction=Message.Direction.INCOMING)
    assert tap.text == "Prices"
    assert tap.details["postback"] == {"title": "Prices", "payload": "UNKNOWN"}
    assert Message.objects.get(author=Message.Author.BOT).text == "10 euros"


def test_a_nul_in_an_id_is_kept_apart_as_its_escape():
    payload = load_payload("messages__text")
    payload["entry"][0]["messaging"][0]["message"]["mid"] = "aWdfZAG1\x00"
    (event,) = parse_delivery(encode(payload)).events
    assert event.mid == "aWdfZAG1\\x00"


@pytest.mark.parametrize(
    "url", ["javascript:alert(document.cookie)", " JavaScript:alert(1)", "data:text/html,x"]
)
def test_links_from_a_delivery_are_links_only_when_they_are_web_addresses(
    deliver, admin_client, url
):
    payload = load_payload("messages__story_reply")
    message = payload["entry"][0]["messaging"][0]["message"]
    message["reply_to"]["story"]["url"] = url
    message["attachments"] = [
        {"type": "image", "payload": {"url": url}},
        {"type": "file", "payload": {"url": "https://cdn.example/price-list.pdf"}},
    ]
    deliver(payload)
    conversation = Conversation.objects.get()

    page = admin_client.get(f"/admin/messaging/conversation/{conversation.pk}/change/")
    html = page.content.decode()
    assert url.strip() not in html.replace("&#x27;", "'")
    assert "replied to a story" in html
    assert 'href="https://cdn.example/price-list.pdf"' in html

    opened = admin_client.get(f"/inbox/c/{conversation.pk}").json()
    incoming = next(m for m in opened["messages"] if m["direction"] == "in")
    assert incoming["attachments"] == [
        {"type": "image", "url": ""},
        {"type": "file", "url": "https://cdn.example/price-list.pdf"},
    ]
