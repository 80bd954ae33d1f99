"""The staff inbox in a real browser: Playwright drives Debian's Chromium on the live server."""

import contextlib
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.db import connections

from devtools.fake_graph import FakeGraphAPI
from messaging.models import Conversation, Message
from messaging.tests.conftest import load_payload

# Drives Chromium against a live server.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture
def browser_page(monkeypatch, settings, live_server):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop on this thread; the test still talks to the
    # database from it between browser steps, which Django would otherwise refuse.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    # The live server speaks plain HTTP; production cookies are HTTPS-only.
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(15_000)
        yield page
        browser.close()
        # Inside Playwright's event loop Django hands out context-local connections: close
        # them here, or they outlive the test (and block dropping the test database).
        connections.close_all()


@contextlib.contextmanager
def screenshot_on_failure(page, name):
    try:
        yield
    except BaseException:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        raise


@pytest.fixture
def fake_graph(settings):
    fake = FakeGraphAPI().start()
    settings.GRAPH_API_BASE_URL = fake.base_url
    yield fake
    fake.stop()


def test_staff_read_a_thread_and_send_a_reply_that_shows_as_sent(
    browser_page, live_server, deliver, fake_graph, run_worker
):
    page = browser_page
    User.objects.create_superuser("alice", "alice@example.com", "correct-horse-battery")
    deliver(load_payload("messages__emoji"))
    conversation = Conversation.objects.get()

    with screenshot_on_failure(page, "inbox-reply"):
        page.goto(f"{live_server.url}/admin/login/?next=/admin/messaging/conversation/")
        page.fill("#id_username", "alice")
        page.fill("#id_password", "correct-horse-battery")
        page.click("input[type=submit]")

        page.click(f"a[href$='/messaging/conversation/{conversation.pk}/change/']")
        thread = page.locator("#thread")
        thread.get_by_text("Ça marche 👍🏽 — 日本語もOK 🇯🇵").wait_for()
        assert thread.locator(".bubble.in").count() == 1
        assert "Queued" in thread.locator(".bubble.out").inner_text()

        page.fill("#reply-form textarea", "Bonjour ! Oui, on livre au Japon 🇯🇵")
        page.click("#send-reply")
        page.get_by_text("Reply queued").wait_for()
        staff_bubble = page.locator(".bubble.author-staff")
        assert "Bonjour ! Oui, on livre au Japon 🇯🇵" in staff_bubble.inner_text()
        assert "alice (inbox)" in staff_bubble.inner_text()

        # The worker sends the staff reply through the (fake) Graph API; the bot's reply,
        # queued before staff stepped in, is cancelled: the bot never talks over a human.
        run_worker()
        # The page refreshes the thread by itself while messages are on their way.
        staff_bubble.locator(".status-sent").wait_for()

        assert "Cancelled" in page.locator(".bubble.author-bot").inner_text()

    sent = [call["text"] for call in fake_graph.calls if call["outcome"] == "sent"]
    assert sent == ["Bonjour ! Oui, on livre au Japon 🇯🇵"]
    staff_message = Message.objects.get(author=Message.Author.STAFF)
    assert (staff_message.status, staff_message.sent_by.username) == ("sent", "alice")
