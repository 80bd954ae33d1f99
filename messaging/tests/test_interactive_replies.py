"""Guided conversations: each trigger starts its rule, and each kind of reply reaches the Send
API in Meta's shape, in order (Graph API mocked at the door)."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import InstagramBusinessAccount
from messaging.models import Message
from messaging.tests.conftest import (
    ACCOUNT_ID,
    CUSTOMER_ID,
    answer_send,
    load_payload,
    sends,
    with_mid,
)
from rules.models import ResponseRule

pytestmark = pytest.mark.django_db


def sent_bodies(graph_api) -> list[dict]:
    return [json.loads(call.request.body) for call in sends(graph_api)]


def sent_messages(graph_api) -> list[dict]:
    return [body["message"] for body in sent_bodies(graph_api) if "message" in body]


def rule(trigger: str, text: str, **fields) -> ResponseRule:
    return ResponseRule.objects.create(trigger=trigger, response_text=text, **fields)


@pytest.mark.parametrize(
    "fixture, trigger, fields",
    [
        ("messaging_postbacks__postback", "payload", {"payload": "HUMAN_AGENT"}),
        ("messages__quick_reply", "payload", {"payload": "HOURS"}),
        ("messages__story_mention", "story_mention", {}),
        ("messages__story_reply", "story_reply", {}),
        ("messages__referral", "referral", {"referral_ref": "23850000000000000"}),
        ("messaging_referral__referral", "referral", {"referral_ref": "summer_promo"}),
        ("messages__image", "attachment", {"attachment_types": "image"}),
        ("messages__text", "welcome", {}),
        ("messages__text", "keywords", {"keywords": "jacket"}),
    ],
)
def test_each_trigger_answers_with_its_rule(
    deliver, graph_api, run_worker, fixture, trigger, fields
):
    ResponseRule.objects.create(keywords="zzz-never", response_text="not me")
    chosen = rule(trigger, f"answer for {trigger}", **fields)
    answer_send(graph_api)
    deliver(load_payload(fixture))
    run_worker()
    assert [m["text"] for m in sent_messages(graph_api)] == [f"answer for {trigger}"]
    assert Message.objects.get(author="bot").rule_id == chosen.pk


def test_a_welcome_answers_only_the_first_message_ever(deliver, graph_api, run_worker):
    rule("welcome", "Welcome! 👋")
    rule("keywords", "Our jackets", keywords="jacket")
    answer_send(graph_api, times=2)
    first = load_payload("messages__text")
    deliver(first)
    deliver(with_mid(first, "aWdfZAG1second", "and the jacket?"))
    run_worker()
    assert [m["text"] for m in sent_messages(graph_api)] == ["Welcome! 👋", "Our jackets"]


def test_a_link_opened_with_no_rule_for_it_is_stored_and_not_answered(deliver, graph_api):
    deliver(load_payload("messaging_referral__referral"))
    stored = Message.objects.get()
    assert stored.details["referral"]["ref"] == "summer_promo"
    assert stored.tap() == "Came from a link (ref summer_promo)"
    assert not Message.objects.filter(author="bot").exists()
    assert not stored.conversation.needs_reply
    # Their first real message is still their first: the welcome answers it.
    rule("welcome", "Welcome!")
    answer_send(graph_api)
    deliver(load_payload("messages__text"))
    assert Message.objects.get(author="bot").text == "Welcome!"


def test_a_redelivered_referral_is_stored_once(deliver):
    payload = load_payload("messaging_referral__referral")
    deliver(payload)
    deliver(payload)
    assert Message.objects.count() == 1


def test_quick_replies_go_with_the_text(deliver, graph_api, run_worker):
    rule(
        "keywords",
        "Which size?",
        keywords="jacket",
        quick_replies=[
            {"title": "Small", "payload": "SIZE_S"},
            {"title": "Large", "payload": "SIZE_L"},
        ],
    )
    answer_send(graph_api)
    deliver(load_payload("messages__text"))
    run_worker()
    assert sent_messages(graph_api) == [
        {
            "text": "Which size?",
            "quick_replies": [
                {"content_type": "text", "title": "Small", "payload": "SIZE_S"},
                {"content_type": "text", "title": "Large", "payload": "SIZE_L"},
            ],
        }
    ]


def test_buttons_go_as_a_button_template(deliver, graph_api, run_worker):
    rule(
        "keywords",
        "What would you like?",
        keywords="jacket",
        buttons=[
            {"title": "Prices", "payload": "PRICES"},
            {"title": "Shop", "url": "https://shop.example"},
        ],
    )
    answer_send(graph_api)
    deliver(load_payload("messages__text"))
    run_worker()
    assert sent_messages(graph_api) == [
        {
            "attachment": {
                "type": "template",
                "payload": {
                    "template_type": "button",
                    "text": "What would you like?",
                    "buttons": [
                        {"type": "postback", "title": "Prices", "payload": "PRICES"},
                        {"type": "web_url", "title": "Shop", "url": "https://shop.example"},
                    ],
                },
            }
        }
    ]


def test_a_photo_a_carousel_then_text_with_buttons_go_out_in_order(deliver, graph_api, run_worker):
    welcome = rule(
        "keywords", "Tap one", keywords="jacket", buttons=[{"title": "Menu", "payload": "MENU"}]
    )
    welcome.extra_messages.create(position=0, kind="image", url="https://shop.example/hi.jpg")
    welcome.extra_messages.create(
        position=1,
        kind="card",
        text="Rain jacket",
        subtitle="49 €",
        url="https://shop.example/rain.jpg",
        buttons=[{"title": "Buy", "url": "https://shop.example/rain"}],
    )
    welcome.extra_messages.create(position=2, kind="card", text="Wind jacket")
    welcome.extra_messages.create(position=3, kind="audio", url="https://shop.example/hi.mp3")
    for n in range(4):
        answer_send(graph_api, message_id=f"part-{n}")
    deliver(load_payload("messages__text"))
    run_worker()
    image, carousel, audio, text = sent_messages(graph_api)
    assert image == {
        "attachment": {
            "type": "image",
            "payload": {"url": "https://shop.example/hi.jpg", "is_reusable": True},
        }
    }
    cards = carousel["attachment"]["payload"]
    assert cards["template_type"] == "generic"
    assert cards["elements"] == [
        {
            "title": "Rain jacket",
            "subtitle": "49 €",
            "image_url": "https://shop.example/rain.jpg",
            "buttons": [{"type": "web_url", "title": "Buy", "url": "https://shop.example/rain"}],
        },
        {"title": "Wind jacket"},
    ]
    assert audio["attachment"]["type"] == "audio"
    assert text["attachment"]["payload"]["template_type"] == "button"
    parts = Message.objects.filter(author="bot").order_by("part")
    assert [(p.part, p.status) for p in parts] == [(n, "sent") for n in range(1, 5)]


def test_a_tap_on_a_button_pointing_at_another_rule_answers_with_that_rule(
    deliver, graph_api, run_worker
):
    rule("payload", "Main menu: what would you like?", payload="HUMAN_AGENT")
    answer_send(graph_api)
    deliver(load_payload("messaging_postbacks__postback"))
    run_worker()
    tap = Message.objects.get(direction="in")
    assert (tap.text, tap.details["postback"]["payload"]) == ("Talk to a human", "HUMAN_AGENT")
    assert tap.tap() == "Tapped the button “Talk to a human”"
    assert sent_messages(graph_api)[0]["text"] == "Main menu: what would you like?"


def test_a_rule_pointing_at_itself_waits_for_the_customer_to_tap(deliver, graph_api, run_worker):
    # A "main menu" whose button leads back to the main menu: a loop only a tap can go round.
    rule(
        "payload",
        "Main menu",
        payload="HUMAN_AGENT",
        buttons=[{"title": "Menu", "payload": "HUMAN_AGENT"}],
    )
    answer_send(graph_api, times=3)
    deliver(load_payload("messaging_postbacks__postback"))
    run_worker()
    run_worker()
    assert len(sent_messages(graph_api)) == 1  # our own button message answers nothing
    postback = load_payload("messaging_postbacks__postback")
    postback["entry"][0]["messaging"][0]["postback"]["mid"] = "aWdfZAG1second-tap"
    deliver(postback)
    run_worker()
    assert len(sent_messages(graph_api)) == 2


def test_an_echo_of_buttons_before_the_send_returns_is_matched_not_taken_for_staff(
    deliver, graph_api, run_worker
):
    rule("keywords", "Pick", keywords="jacket", buttons=[{"title": "Menu", "payload": "MENU"}])
    deliver(load_payload("messages__text"))
    bot_reply = Message.objects.get(author="bot")
    Message.objects.filter(pk=bot_reply.pk).update(status="sending", attempts=1)
    echo = load_payload("messages__echo")
    message = echo["entry"][0]["messaging"][0]["message"]
    message.pop("text", None)
    message["mid"] = "aWdfZAG1echo-of-buttons"
    message["attachments"] = [{"type": "template", "payload": {"template_type": "button"}}]
    deliver(echo)
    bot_reply.refresh_from_db()
    assert bot_reply.mid == "aWdfZAG1echo-of-buttons"
    assert not Message.objects.filter(author="business_app").exists()
    assert not bot_reply.conversation.bot_is_paused()


def test_typing_and_seen_go_before_a_bot_reply_when_the_account_asks(
    deliver, graph_api, run_worker
):
    account = InstagramBusinessAccount(instagram_id=ACCOUNT_ID, name="Shop", send_typing=True)
    account.set_access_token("EAAG-token")
    account.save()
    answer_send(graph_api, times=3)
    deliver(load_payload("messages__text"))
    run_worker()
    bodies = sent_bodies(graph_api)
    assert [b.get("sender_action") for b in bodies] == ["mark_seen", "typing_on", None]
    assert bodies[0]["recipient"] == {"id": CUSTOMER_ID}


def test_no_typing_indicator_unless_the_account_asks(deliver, graph_api, run_worker):
    answer_send(graph_api)
    deliver(load_payload("messages__text"))
    run_worker()
    assert [b.get("sender_action") for b in sent_bodies(graph_api)] == [None]


# --- staff replies and Meta's windows ----------------------------------------------------


def customer_wrote(deliver, ago: timedelta) -> Message:
    deliver(load_payload("messages__text"))
    customer = Message.objects.get(direction="in")
    Message.objects.filter(pk=customer.pk).update(timestamp=timezone.now() - ago)
    Message.objects.filter(author="bot").update(status="cancelled")
    return customer


def test_staff_reply_after_a_day_goes_with_the_human_agent_tag_when_allowed(
    deliver, graph_api, run_worker, api
):
    account = InstagramBusinessAccount(
        instagram_id=ACCOUNT_ID, name="Shop", human_agent_allowed=True
    )
    account.set_access_token("EAAG-token")
    account.save()
    conversation = customer_wrote(deliver, timedelta(hours=30)).conversation
    response = api.post(
        f"/api/conversations/{conversation.pk}/reply/", {"text": "Sorry for the wait"}
    )
    assert response.status_code == 201
    answer_send(graph_api)
    run_worker()
    body = sent_bodies(graph_api)[-1]
    assert (body["messaging_type"], body["tag"]) == ("MESSAGE_TAG", "HUMAN_AGENT")
    assert Message.objects.get(author="staff").human_agent is True


@pytest.mark.parametrize(
    "ago, allowed, says",
    [
        (timedelta(hours=30), False, "allows replies for 24 hours"),
        (timedelta(days=8), True, "more than 7 days"),
    ],
)
def test_staff_reply_outside_the_windows_is_refused_with_the_reason(
    deliver, api, admin_client, ago, allowed, says
):
    account = InstagramBusinessAccount(
        instagram_id=ACCOUNT_ID, name="Shop", human_agent_allowed=allowed
    )
    account.set_access_token("EAAG-token")
    account.save()
    conversation = customer_wrote(deliver, ago).conversation
    response = api.post(f"/api/conversations/{conversation.pk}/reply/", {"text": "Hello?"})
    assert response.status_code == 409
    assert says in response.json()["detail"]
    page = admin_client.get(f"/admin/messaging/conversation/{conversation.pk}/change/")
    assert says in page.content.decode() and 'id="reply-form"' not in page.content.decode()
    inbox = admin_client.post(f"/inbox/c/{conversation.pk}/reply", {"text": "Hi"})
    assert inbox.status_code == 409 and says in inbox.json()["error"]
    assert not Message.objects.filter(author="staff").exists()


def test_a_staff_reply_within_a_day_has_no_tag(deliver, graph_api, run_worker, api):
    conversation = customer_wrote(deliver, timedelta(hours=2)).conversation
    api.post(f"/api/conversations/{conversation.pk}/reply/", {"text": "Hi!"})
    answer_send(graph_api)
    run_worker()
    assert "tag" not in sent_bodies(graph_api)[-1]


@pytest.mark.parametrize(
    "part",
    [
        {"referral": {"ref": "", "source": "ADS", "type": "OPEN_THREAD", "ad_id": "9" * 1000}},
        {"quick_reply": {"payload": 5}},
        {"quick_reply": "SIZE_S"},
        {"reply_to": {"story": "x"}},
        {"attachments": [{"type": 5, "payload": {}}]},
        {"attachments": "image"},
    ],
)
def test_a_malformed_optional_part_is_left_out_never_the_message(
    deliver, graph_api, run_worker, caplog, part
):
    payload = load_payload("messages__text")
    payload["entry"][0]["messaging"][0]["message"].update(part)
    answer_send(graph_api)
    deliver(payload)
    stored = Message.objects.get(direction="in")
    assert stored.text == payload["entry"][0]["messaging"][0]["message"]["text"]
    assert Message.objects.filter(author="bot").exists()
    assert "is left out" in caplog.text


def test_a_new_customers_first_tap_no_rule_answers_gets_the_welcome(deliver, graph_api, run_worker):
    rule("welcome", "Welcome! Here is what I can do.")
    rule("keywords", "Talk to a human: we'll be right with you", keywords="human")
    answer_send(graph_api)
    deliver(load_payload("messaging_postbacks__postback"))  # payload HUMAN_AGENT: no rule
    run_worker()
    assert [m["text"] for m in sent_messages(graph_api)] == ["Welcome! Here is what I can do."]


def test_a_staff_reply_is_tagged_as_the_window_is_when_it_goes_out(
    deliver, graph_api, run_worker, api
):
    account = InstagramBusinessAccount(
        instagram_id=ACCOUNT_ID, name="Shop", human_agent_allowed=True
    )
    account.set_access_token("EAAG-token")
    account.save()
    customer = customer_wrote(deliver, timedelta(hours=23, minutes=59))
    api.post(f"/api/conversations/{customer.conversation.pk}/reply/", {"text": "Hello!"})
    assert Message.objects.get(author="staff").human_agent is False
    # A minute later (a retry, a backlog), the 24 hours are over: the tag goes with it.
    Message.objects.filter(pk=customer.pk).update(timestamp=timezone.now() - timedelta(hours=25))
    answer_send(graph_api)
    run_worker()
    assert sent_bodies(graph_api)[-1]["tag"] == "HUMAN_AGENT"
    assert Message.objects.get(author="staff").human_agent is True


def test_a_staff_reply_that_goes_out_past_seven_days_fails_with_the_reason(
    deliver, graph_api, run_worker, api
):
    customer = customer_wrote(deliver, timedelta(hours=1))
    api.post(f"/api/conversations/{customer.conversation.pk}/reply/", {"text": "Hello!"})
    Message.objects.filter(pk=customer.pk).update(timestamp=timezone.now() - timedelta(days=8))
    run_worker()
    staff_reply = Message.objects.get(author="staff")
    assert staff_reply.status == "failed"
    assert "more than 7 days" in staff_reply.last_error
    assert not [b for b in sent_bodies(graph_api) if b.get("message", {}).get("text") == "Hello!"]
