"""A guided flow as staff build and read it, in a real browser at 1280 px and 390 px: the rule
form shows the fields of its trigger, where its buttons lead, the Try page the whole reply, and
a conversation the buttons and cards the customer saw. Screenshots land in test-artifacts/."""

import pytest
from django.utils import timezone

from messaging.models import Conversation, Message
from messaging.tests.test_admin_layout_browser import ARTIFACTS, LAPTOP, PHONE
from messaging.tests.test_flows_end_to_end import build_the_readme_flow
from meta import messages
from rules.models import ResponseRule

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def fits_the_width(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


@pytest.mark.parametrize("width", [LAPTOP, PHONE])
def test_the_welcome_rule_form_and_where_its_buttons_lead(signed_in, live_server, width):
    build_the_readme_flow()
    welcome = ResponseRule.objects.get(trigger="welcome")
    page = signed_in(width)
    page.goto(f"{live_server.url}/admin/rules/responserule/{welcome.pk}/change/")
    # The welcome needs no keywords or payload: those rows are out of the way.
    assert page.is_hidden(".field-keywords") and page.is_hidden(".field-payload")
    assert page.input_value("#id_buttons").splitlines()[0] == "Prices -> PRICES"
    flow = page.inner_text(".field-flow")
    assert "PRICES → Which size?" in flow
    assert "HOURS → no active rule has this payload yet" in flow
    page.screenshot(path=ARTIFACTS / f"rule-welcome-{width}.png", full_page=True)
    page.locator(".field-flow").screenshot(path=ARTIFACTS / f"rule-flow-{width}.png")
    # Choosing another trigger shows its own field.
    page.select_option("#id_trigger", "payload")
    assert page.is_visible(".field-payload") and page.is_hidden(".field-keywords")
    if width == LAPTOP:
        assert fits_the_width(page)


@pytest.mark.parametrize("width", [LAPTOP, PHONE])
def test_try_a_message_shows_the_winning_trigger_and_the_buttons(signed_in, live_server, width):
    build_the_readme_flow()
    page = signed_in(width)
    page.goto(f"{live_server.url}/admin/rules/responserule/try/?text=price%3F&first_message=on")
    assert "a new customer's first message" in page.inner_text("#try-outcome h2")
    assert page.locator("#try-outcome .chat-button").all_inner_texts()[:2] == [
        "Prices",
        "Opening hours",
    ]
    page.screenshot(path=ARTIFACTS / f"rule-try-{width}.png", full_page=True)
    assert fits_the_width(page)


@pytest.mark.parametrize("width", [LAPTOP, PHONE])
def test_a_thread_shows_buttons_cards_and_taps_as_the_customer_saw_them(
    signed_in, live_server, width
):
    conversation = Conversation.objects.create(
        instagram_account_id="17841400000000001", customer_id="1234567890123456"
    )
    now = timezone.now()

    def sent(message: messages.Outgoing, part: int = 1):
        Message.objects.create(
            conversation=conversation,
            direction="out",
            author="bot",
            status="sent",
            text=messages.summary(message),
            content=messages.as_json(message),
            timestamp=now,
        )

    Message.objects.create(
        conversation=conversation,
        direction="in",
        author="customer",
        mid="m1",
        text="hello",
        timestamp=now,
    )
    sent(
        messages.Cards(
            (
                messages.Card(
                    "Rain jacket",
                    "49 €",
                    buttons=(messages.Button("Buy", url="https://shop.example/rain"),),
                ),
                messages.Card("Wind jacket", "59 €"),
            )
        )
    )
    sent(
        messages.Buttons(
            "What can I do for you?",
            (
                messages.Button("Prices", "PRICES"),
                messages.Button("Visit the shop", url="https://shop.example"),
            ),
        )
    )
    Message.objects.create(
        conversation=conversation,
        direction="in",
        author="customer",
        mid="m2",
        text="Prices",
        details={"postback": {"title": "Prices", "payload": "PRICES"}},
        timestamp=now,
    )
    sent(
        messages.Text(
            "Which size?",
            (messages.QuickReply("Small", "SIZE_S"), messages.QuickReply("Large", "SIZE_L")),
        )
    )
    page = signed_in(width)
    page.goto(f"{live_server.url}/admin/messaging/conversation/{conversation.pk}/change/")
    assert page.locator(".card strong").all_inner_texts() == ["Rain jacket", "Wind jacket"]
    assert "Visit the shop ↗" in page.locator(".chat-button").all_inner_texts()
    assert page.locator(".quick-reply").all_inner_texts() == ["Small", "Large"]
    assert "Tapped the button “Prices”" in page.inner_text("#thread")
    page.locator("#thread").screenshot(path=ARTIFACTS / f"thread-buttons-{width}.png")
