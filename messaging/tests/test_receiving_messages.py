"""A verified delivery: stored raw, then every event stored once and replies queued."""

import copy
import time
from datetime import timedelta
from unittest import mock

import pytest
from django.db import OperationalError
from django.utils import timezone

from messaging import receiving
from messaging.models import Conversation, Message, WebhookDelivery
from messaging.tests.conftest import (
    ACCOUNT_ID,
    CUSTOMER_ID,
    encode,
    load_payload,
    send_tasks,
    sends,
    waiting_ids,
    with_mid,
)
from rules.matching import Reply

pytestmark = pytest.mark.django_db

DEFAULT_REPLY = "Thanks for your message! We'll get back to you soon."


def incoming():
    return Message.objects.filter(direction=Message.Direction.INCOMING)


def replies():
    return Message.objects.filter(author=Message.Author.BOT)


def test_text_message_is_stored_raw_then_as_a_message_with_a_queued_reply(deliver):
    payload = load_payload("messages__text")
    response = deliver(payload)

    assert response.status_code == 200
    delivery = WebhookDelivery.objects.get()
    assert bytes(delivery.body) == encode(payload)
    assert delivery.headers["X-Hub-Signature-256"].startswith("sha256=")
    assert delivery.state == WebhookDelivery.State.PROCESSED

    conversation = Conversation.objects.get()
    assert (conversation.instagram_account_id, conversation.customer_id) == (
        ACCOUNT_ID,
        CUSTOMER_ID,
    )
    message = incoming().get()
    assert message.text == "Hello, is the blue jacket still available?"
    assert message.author == Message.Author.CUSTOMER
    assert conversation.last_message_at == message.timestamp

    reply = replies().get()
    assert (reply.text, reply.status, reply.in_reply_to) == (DEFAULT_REPLY, "queued", message)
    task = send_tasks().get()
    assert task.args_kwargs == {"args": [reply.pk], "kwargs": {}}


def test_the_view_never_calls_the_graph_api(deliver, graph_api):
    # `graph` fails any request the test did not expect: there are none.
    assert deliver(load_payload("messages__text")).status_code == 200
    assert len(sends(graph_api)) == 0
    assert replies().get().status == Message.Status.QUEUED


def test_duplicate_delivery_stores_one_message_and_queues_one_reply(deliver):
    payload = load_payload("messages__text")
    for _ in range(3):
        assert deliver(payload).status_code == 200
    assert WebhookDelivery.objects.count() == 3  # every delivery is kept raw
    assert incoming().count() == 1
    assert replies().count() == 1
    assert send_tasks().count() == 1


def test_same_message_in_two_different_deliveries_is_answered_once(deliver, settings):
    settings.FALLBACK_COOLDOWN_HOURS = 0  # answer every message, to count the replies
    first = load_payload("messages__text")
    second = load_payload("messages__emoji")
    second["entry"][0]["messaging"].append(first["entry"][0]["messaging"][0])
    deliver(first)
    deliver(second)
    assert incoming().count() == 2
    assert replies().count() == 2


def test_emoji_and_any_unicode_round_trip(deliver):
    deliver(load_payload("messages__emoji"))
    assert incoming().get().text == "Ça marche 👍🏽 — 日本語もOK 🇯🇵"


@pytest.mark.parametrize(
    "fixture, attachment_types",
    [
        ("messages__image", ["image"]),
        ("messages__share", ["share", "ig_reel"]),
        ("messages__story_mention", ["story_mention"]),
    ],
)
def test_attachments_are_stored_with_type_and_url_and_answered(deliver, fixture, attachment_types):
    deliver(load_payload(fixture))
    message = incoming().get()
    assert [a["type"] for a in message.attachments] == attachment_types
    assert all(a["url"].startswith("https://lookaside.fbsbx.com/") for a in message.attachments)
    assert replies().count() == 1


@pytest.mark.parametrize(
    "fixture, details",
    [
        (
            "messages__story_reply",
            {
                "reply_to_story": {
                    "id": "17900000000000555",
                    "url": "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=555",
                }
            },
        ),
        ("messages__reply_to", {"reply_to_mid": "aWdfZAG1faW1zZAzpZAFYZD_text"}),
        ("messages__quick_reply", {"quick_reply_payload": "HOURS"}),
        (
            "messages__referral",
            {
                "referral": {
                    "ref": "spring_sale",
                    "source": "ADS",
                    "type": "OPEN_THREAD",
                    "ad_id": "23850000000000000",
                }
            },
        ),
        ("messages__unsupported", {"unsupported": True}),
    ],
)
def test_message_context_is_kept_and_the_message_answered(deliver, fixture, details):
    deliver(load_payload(fixture))
    assert incoming().get().details == details
    assert replies().count() == 1


def test_postback_is_stored_as_the_customers_message_and_answered(deliver):
    deliver(load_payload("messaging_postbacks__postback"))
    message = incoming().get()
    assert message.text == "Talk to a human"
    assert message.details == {"postback": {"title": "Talk to a human", "payload": "HUMAN_AGENT"}}
    assert replies().count() == 1


def test_echo_of_a_message_staff_sent_from_the_app_is_stored_and_never_answered(deliver):
    deliver(load_payload("messages__echo"))
    message = Message.objects.get()
    assert message.direction == Message.Direction.OUTGOING
    assert message.author == Message.Author.BUSINESS_APP
    assert message.conversation.customer_id == CUSTOMER_ID
    assert replies().count() == 0
    assert send_tasks().count() == 0


def test_echo_of_our_sent_reply_is_matched_by_mid_not_stored_again(deliver):
    deliver(load_payload("messages__text"))
    reply = replies().get()
    reply.mark_sent("aWdfZAG1faW1zZAzpZAFYZD_echo")
    echo = with_mid(load_payload("messages__echo"), "aWdfZAG1faW1zZAzpZAFYZD_echo", DEFAULT_REPLY)
    deliver(echo)
    assert Message.objects.filter(direction=Message.Direction.OUTGOING).get() == reply
    assert replies().count() == 1


def test_echo_arriving_before_the_send_returns_is_matched_to_our_reply(deliver):
    deliver(load_payload("messages__text"))
    reply = replies().get()
    # The worker is waiting for the Send API's answer...
    assert Message.claim_for_sending(reply.pk, by="host:1:a")
    echo = with_mid(load_payload("messages__echo"), "aWdfZAG1echo-early", DEFAULT_REPLY)
    deliver(echo)  # ...when Meta's echo arrives
    reply.refresh_from_db()
    assert reply.mid == "aWdfZAG1echo-early"
    assert not Message.objects.filter(author=Message.Author.BUSINESS_APP).exists()
    reply.mark_sent("aWdfZAG1echo-early")  # then the Send API answers with the same id
    assert Message.objects.filter(direction=Message.Direction.OUTGOING).count() == 1


def test_staff_message_with_our_replys_text_is_not_taken_for_ours_when_none_in_flight(deliver):
    deliver(load_payload("messages__text"))
    replies().get().mark_sent("aWdfZAG1sent-1")
    deliver(with_mid(load_payload("messages__echo"), "aWdfZAG1staff", DEFAULT_REPLY))
    assert Message.objects.filter(author=Message.Author.BUSINESS_APP).count() == 1


@pytest.mark.parametrize("fixture", ["messages__self", "standby__text"])
def test_self_test_and_standby_messages_are_stored_but_not_answered(deliver, fixture, caplog):
    deliver(load_payload(fixture))
    assert incoming().count() == 1
    assert replies().count() == 0
    assert "Not answering" in caplog.text


def test_message_older_than_the_24_hour_window_is_stored_but_not_answered(deliver, caplog):
    payload = load_payload("messages__text")
    payload["entry"][0]["messaging"][0]["timestamp"] = int((time.time() - 25 * 3600) * 1000)
    deliver(payload)
    assert incoming().count() == 1
    assert replies().count() == 0
    assert "24-hour messaging window" in caplog.text


def test_deletion_clears_the_stored_message_and_sends_nothing(deliver):
    deliver(load_payload("messages__text"))
    deliver(load_payload("messages__deleted"))
    message = incoming().get()
    assert (message.is_deleted, message.text) == (True, "")
    assert replies().count() == 1  # only the reply to the original message


def test_edit_updates_the_text(deliver):
    deliver(load_payload("messages__text"))
    deliver(load_payload("message_edit__edit"))
    message = incoming().get()
    assert (message.text, message.edit_count) == ("Hello, is the red jacket still available?", 1)
    assert replies().count() == 1


def test_reactions_and_reads_update_the_message_and_send_nothing(deliver):
    deliver(load_payload("messages__text"))
    deliver(load_payload("message_reactions__react"))
    assert incoming().get().reaction == "❤️"
    deliver(load_payload("message_reactions__unreact"))
    assert incoming().get().reaction == ""
    deliver(load_payload("messaging_seen__read"))
    assert incoming().get().read_at is not None
    assert replies().count() == 1


def test_events_about_unknown_messages_are_ignored(deliver):
    for fixture in [
        "messages__deleted",
        "message_edit__edit",
        "message_reactions__react",
        "messaging_seen__read",
    ]:
        assert deliver(load_payload(fixture)).status_code == 200
    assert Message.objects.count() == 0


@pytest.mark.parametrize("fixture", ["messaging__unknown_kind"])
def test_events_we_do_not_handle_are_logged_kept_raw_and_answered_200(deliver, fixture, caplog):
    assert deliver(load_payload(fixture, fresh=False)).status_code == 200
    assert Message.objects.count() == 0
    assert WebhookDelivery.objects.get().state == WebhookDelivery.State.PROCESSED
    assert caplog.text


def test_other_objects_are_acknowledged_and_ignored(deliver, caplog):
    assert deliver({"object": "page", "entry": []}).status_code == 200
    assert "is for object 'page'" in caplog.text


def test_batch_of_many_entries_and_events_handles_every_one(deliver):
    payload = load_payload("messages__text")
    template = payload["entry"][0]["messaging"][0]
    payload["entry"] = [
        {
            "id": ACCOUNT_ID,
            "time": 1,
            "messaging": [
                {
                    **template,
                    "sender": {"id": f"customer-{entry}"},
                    "message": {"mid": f"mid-{entry}-{n}", "text": f"message {n}"},
                }
                for n in range(10)
            ],
        }
        for entry in range(10)
    ]
    assert deliver(payload).status_code == 200
    assert incoming().count() == 100
    assert Conversation.objects.count() == 10
    # Ten lines from each customer, one fallback each (its cooldown).
    assert replies().count() == 10


def test_one_bad_event_does_not_drop_the_others(deliver, caplog):
    payload = load_payload("messages__text")
    good = payload["entry"][0]["messaging"][0]
    bad = copy.deepcopy(good)
    del bad["message"]["mid"]
    second = {**good, "message": {"mid": "another-mid", "text": "second"}}
    payload["entry"][0]["messaging"] = [good, bad, second]

    assert deliver(payload).status_code == 200
    assert incoming().count() == 2
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == WebhookDelivery.State.PROCESSED
    assert '"mid" is missing' in delivery.error
    assert '"mid" is missing' in caplog.text


def test_an_event_whose_handling_raises_is_recorded_and_the_rest_go_through(deliver, caplog):
    payload = load_payload("messages__text")
    good = payload["entry"][0]["messaging"][0]
    payload["entry"][0]["messaging"] = [good, {**good, "message": {"mid": "m2", "text": "two"}}]
    with mock.patch(
        "messaging.replies.answer", side_effect=[RuntimeError("boom"), (Reply("ok"), "")]
    ):
        response = deliver(payload)
    assert response.status_code == 200
    # The failing event rolled back whole: no message without its reply.
    assert list(incoming().values_list("mid", flat=True)) == ["m2"]
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == WebhookDelivery.State.FAILED
    assert "boom" in delivery.error


@pytest.mark.parametrize(
    "body", [b"not json at all", b"[1, 2]", b'{"object": "instagram"}', b"\xff\xfe\x00garbage"]
)
def test_signed_but_unreadable_body_is_400_kept_raw_and_logged(deliver, body, caplog):
    response = deliver(body)
    assert response.status_code == 400
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == WebhookDelivery.State.REJECTED
    assert bytes(delivery.body) == body
    assert "rejected" in caplog.text


def test_database_failure_while_storing_the_delivery_answers_503(deliver, caplog):
    with mock.patch.object(
        WebhookDelivery, "record", side_effect=OperationalError("database is locked")
    ):
        response = deliver(load_payload("messages__text"))
    assert response.status_code == 503
    assert "asking Meta to retry" in caplog.text


def test_a_database_failure_while_handling_leaves_the_delivery_to_be_handled_again(
    deliver, settings
):
    payload = load_payload("messages__text")
    with mock.patch(
        "messaging.events.conversation_for", side_effect=OperationalError("database is locked")
    ):
        # Accepted: the delivery itself is stored; its handling is the worker's business.
        assert deliver(payload).status_code == 200
    assert incoming().count() == 0
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == WebhookDelivery.State.RECEIVED  # waiting for another go

    # Meta will not deliver it again, so the workers take it again, after a pause that lets
    # the database recover (no worker spins on it meanwhile).
    assert waiting_ids(10) == []
    assert delivery.handling_since >= timezone.now() + timedelta(
        seconds=settings.REPLY_STALLED_AFTER - 5
    )
    WebhookDelivery.objects.update(handling_since=timezone.now())  # the pause is over
    assert receiving.take_waiting_deliveries() == 1
    assert incoming().count() == 1
    assert replies().count() == 1
    assert WebhookDelivery.objects.get().state == WebhookDelivery.State.PROCESSED


def test_an_event_that_deadlocks_is_run_again_and_stored(deliver):
    from messaging import events

    real = events.handle
    calls = []

    def deadlock_once(event, account):
        calls.append(event)
        if len(calls) == 1:
            raise OperationalError(1213, "Deadlock found when trying to get lock")
        real(event, account)

    with mock.patch("messaging.events.handle", side_effect=deadlock_once):
        assert deliver(load_payload("messages__text")).status_code == 200
    assert len(calls) == 2
    assert incoming().count() == 1
    assert replies().count() == 1


def test_deadlocks_are_retried_a_bounded_number_of_times(deliver):
    deadlock = OperationalError(1213, "Deadlock found when trying to get lock")
    with mock.patch("messaging.events.handle", side_effect=deadlock) as handle:
        assert deliver(load_payload("messages__text")).status_code == 200
    assert handle.call_count == 3
    assert WebhookDelivery.objects.get().state == WebhookDelivery.State.RECEIVED


def test_other_storage_errors_are_not_retried(deliver):
    with mock.patch(
        "messaging.events.handle", side_effect=OperationalError("database is locked")
    ) as handle:
        assert deliver(load_payload("messages__text")).status_code == 200
    assert handle.call_count == 1
    assert WebhookDelivery.objects.get().state == WebhookDelivery.State.RECEIVED


def test_the_reply_commits_or_rolls_back_with_the_message_it_answers(deliver, graph_api):
    from messaging.replies import queue_outgoing as real_queue_outgoing

    def queue_then_crash(*args, **kwargs):
        real_queue_outgoing(*args, **kwargs)
        raise RuntimeError("crash after the reply was stored")

    with mock.patch("messaging.replies.queue_outgoing", side_effect=queue_then_crash):
        assert deliver(load_payload("messages__text")).status_code == 200
    # All or nothing: no message without its reply, no reply without its message, no send.
    assert Message.objects.count() == 0
    assert send_tasks().count() == 0
    assert sends(graph_api) == []
    assert WebhookDelivery.objects.get().state == WebhookDelivery.State.FAILED
