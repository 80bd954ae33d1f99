"""What staff see, in a real browser at a laptop's width (1280 px) and a phone's (390 px): the
rules list, the conversations list and a conversation's page lay out without overlaps or cut-off
columns, the conversation says whether and why the bot is silent, and the API docs show the
token header. Screenshots land in test-artifacts/ to look at."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.db import connections
from django.utils import timezone

from accounts.models import InstagramBusinessAccount
from messaging.models import Conversation, Message
from rules.models import ResponseRule

# Drives Chromium against a live server.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
LAPTOP, PHONE = 1280, 390


@pytest.fixture
def browser(monkeypatch, settings):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop on this thread; the test still talks to the
    # database from it between browser steps, which Django would otherwise refuse.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    # The live server speaks plain HTTP; production cookies are HTTPS-only.
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()
        # Inside Playwright's event loop Django hands out context-local connections: close
        # them here, or they outlive the test (and block dropping the test database).
        connections.close_all()


@pytest.fixture
def signed_in(browser, live_server):
    """Open a page of the given width, signed in as a superuser."""
    User.objects.create_superuser("alice", "alice@example.com", "correct-horse-battery")
    pages = []

    def open_page(width):
        page = browser.new_page(viewport={"width": width, "height": 900})
        page.set_default_timeout(15_000)
        page.goto(f"{live_server.url}/admin/login/")
        page.fill("#id_username", "alice")
        page.fill("#id_password", "correct-horse-battery")
        page.click("input[type=submit]")
        page.wait_for_url(f"{live_server.url}/admin/")
        pages.append(page)
        return page

    yield open_page
    for page in pages:
        page.close()


@pytest.fixture
def inbox():
    """Accounts, rules and conversations with long real-looking values: the widest lists."""
    shop = InstagramBusinessAccount(instagram_id="17841400000000001", name="Maison Lumière Paris")
    shop.set_access_token("EAAG-shop")
    shop.save()
    ResponseRule.objects.create(
        keywords="hours, open, opening times, closing time",
        response_text="We are open 10-19, Monday to Saturday, at 12 rue des Lilas.",
        priority=5,
    )
    ResponseRule.objects.create(keywords="ship, shipping, delivery", response_text="We ship 🌍")
    now = timezone.now()
    conversations = []
    for n, (name, text) in enumerate(
        [
            ("jacket.fan.from.lyon", "Bonjour 👋 do you ship to Lyon before Christmas, please?"),
            ("", "Is the shop open on Sunday afternoons, and until when exactly?"),
            ("a.very.long.instagram.username_2026", "❤️❤️❤️"),
        ]
    ):
        conversation = Conversation.objects.create(
            instagram_account_id=shop.instagram_id,
            account=shop,
            customer_id=f"12345678901234{n:02d}",
            customer_username=name,
            last_message_at=now - timedelta(minutes=n),
        )
        Message.objects.create(
            conversation=conversation, direction="in", author="customer", text=text, mid=f"m-{n}"
        )
        conversations.append(conversation)
    conversations[0].pause_bot()
    conversations[1].take_over(now + timedelta(hours=12))
    return conversations


def screenshot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def box(page, selector):
    return page.locator(selector).first.bounding_box()


def overlap(a, b) -> bool:
    return (
        a["x"] < b["x"] + b["width"]
        and b["x"] < a["x"] + a["width"]
        and a["y"] < b["y"] + b["height"]
        and b["y"] < a["y"] + a["height"]
    )


def page_width(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def hidden_table_width(page) -> int:
    """How much of the list's table is out of sight: Django's admin scrolls a table too wide
    for its box inside that box, so the page itself never looks too wide."""
    return page.evaluate(
        "(() => { const box = document.querySelector('#changelist-form .results');"
        " return box.scrollWidth - box.clientWidth; })()"
    )


@pytest.mark.parametrize("width", [LAPTOP, PHONE])
def test_the_try_box_does_not_cover_add_response_rule(signed_in, live_server, inbox, width):
    page = signed_in(width)
    page.goto(f"{live_server.url}/admin/rules/responserule/")
    screenshot(page, f"rules-list-{width}")
    assert page_width(page) <= width
    if width == LAPTOP:
        assert hidden_table_width(page) == 0
    add_button = box(page, ".object-tools a.addlink")
    try_box = box(page, "#try-message")
    assert add_button and try_box
    assert not overlap(add_button, try_box)
    # The button is still the one clicked, not something drawn over it.
    page.click(".object-tools a.addlink")
    page.wait_for_url("**/rules/responserule/add/")


def test_the_rules_list_shows_each_date_and_short_trigger_on_one_line(
    signed_in, live_server, inbox
):
    ResponseRule.objects.create(trigger="welcome", response_text="Welcome! Tap a button below.")
    page = signed_in(LAPTOP)
    page.goto(f"{live_server.url}/admin/rules/responserule/")
    line = 17  # px: one line of the admin's 13 px text
    for cell in page.locator("#result_list td.field-updated span").all():
        assert cell.bounding_box()["height"] < 1.6 * line  # "2026-12-06", not three lines
    welcome = page.locator("#result_list th.field-when", has_text="welcome").first
    assert welcome.locator("a").bounding_box()["height"] < 1.6 * line
    shipping = page.locator("#result_list th.field-when", has_text="ship").locator("a")
    assert shipping.bounding_box()["height"] < 2.6 * line
    assert hidden_table_width(page) == 0


def test_the_conversations_list_fits_a_laptop_screen(signed_in, live_server, inbox):
    page = signed_in(LAPTOP)
    page.goto(f"{live_server.url}/admin/messaging/conversation/")
    screenshot(page, f"conversations-list-{LAPTOP}")
    assert page_width(page) <= LAPTOP
    assert hidden_table_width(page) == 0  # no column cut off behind a sideways scroll
    bot_column = page.locator("#result_list td.field-bot")
    assert sorted(bot_column.all_inner_texts()) == ["on", "paused", "taken over"]


def test_the_conversations_list_on_a_phone(signed_in, live_server, inbox):
    page = signed_in(PHONE)
    page.goto(f"{live_server.url}/admin/messaging/conversation/")
    screenshot(page, f"conversations-list-{PHONE}")
    # On a phone the table may scroll sideways inside its box; the page itself does not.
    assert page_width(page) <= PHONE


@pytest.mark.parametrize("width", [LAPTOP, PHONE])
def test_a_conversation_says_why_the_bot_is_silent(signed_in, live_server, inbox, width):
    paused, taken_over, answering = inbox
    page = signed_in(width)
    expected = {
        paused: "paused by staff since",
        taken_over: "staff took over, until",
        answering: "The bot answers this conversation",
    }
    for conversation, text in expected.items():
        page.goto(f"{live_server.url}/admin/messaging/conversation/{conversation.pk}/change/")
        assert text in page.locator("#bot-state").inner_text()
        screenshot(page, f"conversation-{conversation.customer_id}-{width}")
        assert page_width(page) <= width

    page.goto(f"{live_server.url}/admin/messaging/conversation/{paused.pk}/change/")
    assert "until resumed" in page.locator("#bot-state").inner_text()
    page.click("input[name=resume]")
    page.get_by_text("Resumed the bot in this conversation").wait_for()
    assert "The bot answers this conversation" in page.locator("#bot-state").inner_text()
    paused.refresh_from_db()
    assert not paused.bot_is_paused()


def test_the_api_docs_show_the_token_header(signed_in, live_server):
    page = signed_in(LAPTOP)
    page.goto(f"{live_server.url}/api/docs/")
    description = page.locator(".swagger-ui .info .description")
    description.wait_for()
    screenshot(page, "api-docs")
    assert "Authorization: Token <key>" in description.inner_text()
