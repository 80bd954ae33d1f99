"""A guided conversation end to end, without Instagram: simulate_dm (taps included) -> webhook
(live server) -> the worker -> the fake Graph API, which refuses what Meta refuses -> its
echoes back to the webhook. The flow is the README's: welcome -> buttons -> answer -> menu."""

import pytest
from django.core.management import call_command

from messaging.models import Message, WebhookDelivery
from messaging.tests.test_end_to_end import fake_graph, wait_for  # noqa: F401 (a fixture)
from rules.models import ResponseRule

pytestmark = pytest.mark.django_db(transaction=True)

CUSTOMER = "1234567890123456"


def customer(live_server, **event):
    call_command(
        "simulate_dm", sender=CUSTOMER, url=f"{live_server.url}/webhooks/instagram", **event
    )


def handled(run_worker, fake_graph, sends_before: int) -> list[dict]:  # noqa: F811
    """Run the worker; return the sends it made, once their echoes came back and were handled
    (every delivery is one customer event or one echo of ours)."""
    run_worker()
    sent = [c for c in fake_graph.calls if c.get("outcome") == "sent"]
    customer_events = Message.objects.filter(direction="in").count()
    assert wait_for(lambda: WebhookDelivery.objects.count() == customer_events + len(sent))
    run_worker()
    return sent[sends_before:]


def build_the_readme_flow() -> None:
    welcome = ResponseRule.objects.create(
        trigger="welcome",
        response_text="Hi! I'm the shop's assistant. What can I do for you?",
        buttons=[
            {"title": "Prices", "payload": "PRICES"},
            {"title": "Opening hours", "payload": "HOURS"},
            {"title": "Visit the shop", "url": "https://shop.example"},
        ],
    )
    welcome.extra_messages.create(kind="image", url="https://shop.example/welcome.jpg")
    ResponseRule.objects.create(
        trigger="payload",
        payload="PRICES",
        response_text="Which size?",
        quick_replies=[
            {"title": "Small", "payload": "SIZE_S"},
            {"title": "Large", "payload": "SIZE_L"},
        ],
    )
    ResponseRule.objects.create(
        trigger="payload",
        payload="SIZE_S",
        response_text="Small is 19 €.",
        buttons=[{"title": "Main menu", "payload": "MAIN_MENU"}],
    )
    ResponseRule.objects.create(
        trigger="payload",
        payload="MAIN_MENU",
        response_text="Main menu: what next?",
        buttons=[
            {"title": "Prices", "payload": "PRICES"},
            {"title": "Opening hours", "payload": "HOURS"},
        ],
    )


def test_welcome_buttons_answer_and_main_menu(live_server, fake_graph, run_worker):  # noqa: F811
    build_the_readme_flow()

    customer(live_server, text="hello")
    image, welcome = handled(run_worker, fake_graph, 0)
    assert image["message"]["attachment"]["type"] == "image"
    buttons = welcome["message"]["attachment"]["payload"]["buttons"]
    assert [b["title"] for b in buttons] == ["Prices", "Opening hours", "Visit the shop"]

    customer(live_server, text="Prices", postback="PRICES")
    [sizes] = handled(run_worker, fake_graph, 2)
    assert [q["title"] for q in sizes["message"]["quick_replies"]] == ["Small", "Large"]

    customer(live_server, text="Small", quick_reply="SIZE_S")
    [answer] = handled(run_worker, fake_graph, 3)
    assert answer["message"]["attachment"]["payload"]["text"] == "Small is 19 €."

    customer(live_server, text="Main menu", postback="MAIN_MENU")
    [menu] = handled(run_worker, fake_graph, 4)
    assert menu["message"]["attachment"]["payload"]["text"] == "Main menu: what next?"

    # Every echo of ours was matched: no message taken for staff writing from the app, and the
    # bot never went silent.
    assert not Message.objects.filter(author="business_app").exists()
    assert Message.objects.filter(author="bot", status="sent").count() == 5
    taps = [m.tap() for m in Message.objects.filter(direction="in").order_by("id")]
    assert taps == [
        "",
        "Tapped the button “Prices”",
        "Tapped a quick reply",
        "Tapped the button “Main menu”",
    ]


@pytest.mark.parametrize(
    "event, trigger, fields",
    [
        ({"story_mention": True}, "story_mention", {}),
        ({"story_reply": True, "text": "love it"}, "story_reply", {}),
        ({"ref": "summer"}, "referral", {"referral_ref": "summer"}),
        ({"ad": "23850000000000001", "text": "is it in stock?"}, "referral", {}),
        ({"attachment": "image"}, "attachment", {"attachment_types": "image, video"}),
    ],
)
def test_each_trigger_through_the_fake(live_server, fake_graph, run_worker, event, trigger, fields):  # noqa: F811
    ResponseRule.objects.create(trigger=trigger, response_text=f"Thanks ({trigger})!", **fields)
    customer(live_server, **event)
    [reply] = handled(run_worker, fake_graph, 0)
    assert reply["text"] == f"Thanks ({trigger})!"


def test_a_reply_meta_would_refuse_fails_with_metas_reason(live_server, fake_graph, run_worker):  # noqa: F811
    # Saved around the model's checks (as an old row might be): the fake refuses it as Meta does.
    ResponseRule.objects.create(
        trigger="welcome",
        response_text="Pick",
        quick_replies=[{"title": f"Option number {n}", "payload": f"P{n}"} for n in range(14)],
    )
    customer(live_server, text="hi")
    run_worker()
    failed = Message.objects.get(author="bot")
    assert failed.status == "failed"
    assert "(#100)" in failed.last_error and "quick_replies" in failed.last_error
