"""Guided conversations in the staff inbox, in a real browser at 1280 and 390 px: the buttons,
quick replies and cards the bot sent are drawn as the customer saw them, the customer's taps
are named, and the reply box says when Instagram's windows are closed or the Human Agent tag
goes with the reply."""

from datetime import timedelta

import pytest
from django.utils import timezone

from inbox.tests.conftest import SHOP_A_ID, dm, staff
from inbox.tests.test_inbox_browser import (  # noqa: F401 (fixtures)
    browser,
    fake_graph,
    log_in,
    new_page,
    screenshot,
    screenshot_on_failure,
)
from messaging.models import Conversation, Message
from messaging.tests.conftest import load_payload
from rules.models import ResponseRule

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

CUSTOMER = "17000000000000404"


def tap(payload_name: str, title: str, mid: str) -> dict:
    body = load_payload("messaging_postbacks__postback")
    event = body["entry"][0]["messaging"][0]
    event["sender"]["id"] = CUSTOMER
    event["postback"] = {"mid": mid, "title": title, "payload": payload_name}
    return body


@pytest.mark.parametrize("width", [1280, 390])
def test_buttons_cards_and_taps_show_in_the_thread(
    browser,  # noqa: F811 (the fixture)
    live_server,
    deliver,
    fake_graph,  # noqa: F811 (the fixture)
    run_worker,
    shop_a,
    width,
):
    staff("alice", all_accounts=True)
    welcome = ResponseRule.objects.create(
        trigger="welcome",
        response_text="What can I do for you?",
        buttons=[
            {"title": "Prices", "payload": "PRICES"},
            {"title": "Visit the shop", "url": "https://shop.example"},
        ],
    )
    welcome.extra_messages.create(kind="card", text="Rain jacket", subtitle="49 €")
    welcome.extra_messages.create(kind="card", text="Wind jacket", subtitle="59 €")
    ResponseRule.objects.create(
        trigger="payload",
        payload="PRICES",
        response_text="Which size?",
        quick_replies=[{"title": "Small", "payload": "S"}, {"title": "Large", "payload": "L"}],
    )
    deliver(dm(SHOP_A_ID, CUSTOMER, "m-hello", "hello"))
    deliver(tap("PRICES", "Prices", "m-tap"))
    run_worker()

    page = new_page(browser, width)
    with screenshot_on_failure(page, f"inbox-guided-{width}"):
        log_in(page, live_server, "alice")
        page.locator(f".conversation[data-id='{Conversation.objects.get().pk}']").first.click()
        thread = page.locator("#messages")
        thread.locator(".card").first.wait_for()
        assert thread.locator(".card strong").all_inner_texts() == ["Rain jacket", "Wind jacket"]
        assert "Visit the shop ↗" in thread.locator(".chat-button").all_inner_texts()
        assert thread.locator(".quick-reply").all_inner_texts() == ["Small", "Large"]
        assert "Tapped the button “Prices”" in thread.inner_text()
        assert page.is_hidden("#reply-window")
        screenshot(page, f"inbox-guided-{width}")


def test_the_reply_box_says_why_it_cannot_send_after_the_window(
    browser,  # noqa: F811 (the fixture)
    live_server,
    deliver,
    fake_graph,  # noqa: F811 (the fixture)
    run_worker,
    shop_a,
):
    staff("alice", all_accounts=True)
    deliver(dm(SHOP_A_ID, CUSTOMER, "m-old", "still there?"))
    Message.objects.filter(direction="in").update(timestamp=timezone.now() - timedelta(days=2))
    page = new_page(browser, 1280)
    with screenshot_on_failure(page, "inbox-window-closed"):
        log_in(page, live_server, "alice")
        page.locator(f".conversation[data-id='{Conversation.objects.get().pk}']").first.click()
        notice = page.locator("#reply-window")
        notice.wait_for()
        assert "Instagram allows replies for 24 hours" in notice.inner_text()
        assert page.is_disabled("#reply-text") and page.is_disabled("#send")
        screenshot(page, "inbox-window-closed-1280")
