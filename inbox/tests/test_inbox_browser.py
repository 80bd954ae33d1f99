"""The staff inbox in a real browser: Playwright drives Debian's Chromium on the live server,
replies go out through the fake Graph API and a worker, and nothing is reloaded by hand."""

import contextlib
from pathlib import Path

import pytest
from django.db import connections

from devtools.fake_graph import FakeGraphAPI
from inbox.models import SavedReply
from inbox.tests.conftest import SHOP_A_ID, SHOP_B_ID, dm, staff
from messaging.models import Conversation, Message

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
FIRST_CUSTOMER, SECOND_CUSTOMER, B_CUSTOMER = (
    "17000000000000101",
    "17000000000000202",
    "17000000000000303",
)


@pytest.fixture
def browser(monkeypatch, settings, live_server):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop on this thread; the test still talks to the
    # database from it between browser steps, which Django would otherwise refuse.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    # The live server speaks plain HTTP; production cookies are HTTPS-only.
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False
    settings.INBOX_POLL_SECONDS = 0.5
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
        # Inside Playwright's event loop Django hands out context-local connections: close
        # them here, or they outlive the test (and block dropping the test database).
        connections.close_all()


@pytest.fixture
def fake_graph(settings):
    fake = FakeGraphAPI().start()
    settings.GRAPH_API_BASE_URL = fake.base_url
    yield fake
    fake.stop()


def new_page(browser, width, height=900):
    page = browser.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(15_000)
    return page


def log_in(page, live_server, username, password="pw-staff-123"):
    page.goto(f"{live_server.url}/admin/login/?next=/inbox/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url("**/inbox/")


def screenshot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


@contextlib.contextmanager
def screenshot_on_failure(page, name):
    try:
        yield
    except BaseException:
        screenshot(page, f"{name}-failure")
        raise


def test_staff_answer_a_fallback_answered_dm_with_a_saved_reply_assign_and_resolve(
    browser, live_server, deliver, fake_graph, run_worker, shop_a, shop_b
):
    alice = staff("alice", all_accounts=True)
    staff("lena", shop_b)
    SavedReply.objects.create(
        shortcut="hours", text="We are open 9:00 to 18:00, Monday to Saturday."
    )
    SavedReply.objects.create(shortcut="returns", text="Returns are free within 30 days.")
    from_an_ad = "messages__referral"
    deliver(dm(SHOP_A_ID, FIRST_CUSTOMER, "m-first", "Do you ship to Lyon?", payload=from_an_ad))
    deliver(dm(SHOP_B_ID, B_CUSTOMER, "m-bravo", "Bonjour, une question pour Bravo"))
    run_worker()  # the fallback goes out; the worker fetches the customers' usernames
    first = Conversation.objects.get(customer_id=FIRST_CUSTOMER)
    assert first.needs_reply

    page = new_page(browser, 1280)
    with screenshot_on_failure(page, "inbox-flow"):
        log_in(page, live_server, "alice")
        needs = page.locator("#needs-list")
        needs.get_by_text("@customer_0101").wait_for()
        page.wait_for_function("document.title.startsWith('(2)')")  # both DMs got the fallback

        needs.get_by_text("@customer_0101").click()
        thread = page.locator("#messages")
        thread.get_by_text("Do you ship to Lyon?").wait_for()
        assert "Sent" in page.locator(".bubble.author-bot").inner_text()
        page.locator("#customer-name").get_by_text("@customer_0101").wait_for()
        assert page.locator("#customer-origin").inner_text() == "an ad (ref spring_sale)"

        box = page.locator("#reply-text")
        box.click()
        box.type("/hou")
        page.locator("#suggestions").get_by_text("/hours").wait_for()
        screenshot(page, "inbox-saved-reply-1280")
        box.press("Enter")  # takes the offered saved reply
        assert box.input_value() == "We are open 9:00 to 18:00, Monday to Saturday."
        box.press("Shift+Enter")
        box.type("See you soon!")
        box.press("Enter")  # sends
        staff_bubble = page.locator(".bubble.author-staff")
        staff_bubble.locator(".status-queued").wait_for()
        assert box.input_value() == ""

        run_worker()
        staff_bubble.locator(".status-sent").wait_for()  # without a reload
        page.wait_for_function("document.title.startsWith('(1)')")

        page.select_option("#assign", label="alice")
        page.locator("#rest-list .badge", has_text="alice").wait_for()

        # A reply Instagram refuses: queued, then failed with the reason, in place; the
        # customer needs a person again.
        fake_graph.fail_next("user_unavailable")
        box.type("Are you still there?")
        box.press("Enter")
        refused = page.locator(".bubble.author-staff", has_text="Are you still there?")
        refused.locator(".status-queued").wait_for()
        run_worker()
        refused.locator(".status-failed").wait_for()
        refused.locator(".error", has_text="isn't available right now").wait_for()
        page.locator("#needs-list").get_by_text("@customer_0101").wait_for()
        page.wait_for_function("document.title.startsWith('(2)')")
        screenshot(page, "inbox-1280")

        page.set_viewport_size({"width": 1600, "height": 1000})
        screenshot(page, "inbox-1600")

        # A second customer writes: the open list shows them without a reload.
        deliver(dm(SHOP_A_ID, SECOND_CUSTOMER, "m-second", "Is the blue jacket in stock?"))
        page.locator("#needs-list").get_by_text("Is the blue jacket in stock?").wait_for()

        page.click("#resolve")
        page.locator("#resolve", has_text="Reopen").wait_for()
        page.set_viewport_size({"width": 1280, "height": 900})

    first.refresh_from_db()
    assert (first.status, first.assigned_to, first.needs_reply) == ("archived", alice, False)
    sent = [call["text"] for call in fake_graph.calls if call["outcome"] == "sent"]
    assert "We are open 9:00 to 18:00, Monday to Saturday.\nSee you soon!" in sent
    reply, refused = Message.objects.filter(author=Message.Author.STAFF).order_by("id")
    assert (reply.status, reply.sent_by) == ("sent", alice)
    assert refused.status == "failed" and "isn't available" in refused.last_error

    # On a phone: one pane at a time.
    phone = new_page(browser, 390, 844)
    with screenshot_on_failure(phone, "inbox-phone"):
        log_in(phone, live_server, "alice")
        phone.locator("#needs-list").get_by_text(SECOND_CUSTOMER).wait_for()
        assert not phone.locator(".thread-pane").is_visible()
        screenshot(phone, "inbox-390-list")
        phone.locator("#needs-list").get_by_text(SECOND_CUSTOMER).click()
        phone.locator("#messages").get_by_text("Is the blue jacket in stock?").wait_for()
        assert not phone.locator(".list-pane").is_visible()
        screenshot(phone, "inbox-390-thread")
        phone.click("button.info")
        phone.locator("#customer-name").wait_for()
        screenshot(phone, "inbox-390-customer")
        phone.goto(f"{live_server.url}/inbox/stats/")
        screenshot(phone, "stats-390")

    # Lena works for Bravo only: she sees Bravo's customer and nobody else.
    lena_page = new_page(browser, 1280)
    with screenshot_on_failure(lena_page, "inbox-limited"):
        log_in(lena_page, live_server, "lena")
        lena_page.locator("#needs-list").get_by_text("@customer_0303").wait_for()
        listed = lena_page.locator("a.conversation")
        assert listed.count() == 1
        assert "Alpha" not in lena_page.locator("#filter-account").inner_text()
        screenshot(lena_page, "inbox-limited-1280")

    page.goto(f"{live_server.url}/inbox/stats/")
    page.locator("svg").first.wait_for()
    screenshot(page, "stats-1280")


def test_a_refused_reply_says_why_above_the_box_and_drafts_stay_with_their_conversation(
    browser, live_server, deliver, settings, shop_a
):
    from datetime import timedelta

    from django.utils import timezone

    # No news while the test works: the window closes behind the page's back, as it does when
    # the customer's last message turns seven days old while staff are typing.
    settings.INBOX_POLL_SECONDS = 600
    staff("alice", all_accounts=True)
    deliver(dm(SHOP_A_ID, FIRST_CUSTOMER, "m-first", "Open on holidays?"))
    deliver(dm(SHOP_A_ID, SECOND_CUSTOMER, "m-second", "Do you ship to Lyon?"))

    page = new_page(browser, 1280)
    with screenshot_on_failure(page, "inbox-refused"):
        log_in(page, live_server, "alice")
        page.locator("a.conversation", has_text=FIRST_CUSTOMER).click()
        page.locator("#thread-customer", has_text=FIRST_CUSTOMER).wait_for()
        box = page.locator("#reply-text")
        box.click()
        box.type("Yes, 10:00 to 16:00.")
        Message.objects.filter(mid="m-first").update(timestamp=timezone.now() - timedelta(days=9))
        box.press("Enter")
        page.locator("#send-error", has_text="7 days").wait_for()
        assert box.input_value() == "Yes, 10:00 to 16:00."  # kept, to send another way
        screenshot(page, "inbox-refused-1280")

        # Another customer: the box is theirs, empty, and the refusal is not shown there.
        page.locator("a.conversation", has_text=SECOND_CUSTOMER).click()
        page.locator("#thread-customer", has_text=SECOND_CUSTOMER).wait_for()
        assert box.input_value() == "" and page.locator("#send-error").is_hidden()
        box.type("Yes, in 2 days.")
        page.locator("a.conversation", has_text=FIRST_CUSTOMER).click()
        page.locator("#thread-customer", has_text=FIRST_CUSTOMER).wait_for()
        assert box.input_value() == "Yes, 10:00 to 16:00."
        page.locator("a.conversation", has_text=SECOND_CUSTOMER).click()
        page.locator("#thread-customer", has_text=SECOND_CUSTOMER).wait_for()
        assert box.input_value() == "Yes, in 2 days." and box.is_enabled()

    assert not Message.objects.filter(author=Message.Author.STAFF).exists()


def test_on_a_phone_a_long_thread_opens_on_its_newest_message(
    browser, live_server, deliver, shop_a
):
    staff("alice", all_accounts=True)
    for n in range(1, 31):
        deliver(dm(SHOP_A_ID, FIRST_CUSTOMER, f"m-{n}", f"line {n} of a long conversation"))
    phone = new_page(browser, 390, 844)
    with screenshot_on_failure(phone, "inbox-phone-long-thread"):
        log_in(phone, live_server, "alice")
        phone.locator("a.conversation").first.click()
        newest = phone.locator("#messages").get_by_text("line 30 of a long conversation")
        newest.wait_for()
        phone.wait_for_timeout(200)
        assert newest.is_visible()
        assert (
            phone.evaluate(
                "(() => { const list = document.getElementById('messages');"
                " return list.scrollHeight - list.scrollTop - list.clientHeight; })()"
            )
            < 5
        )
        screenshot(phone, "inbox-390-long-thread")
        # To the customer and back: the thread shows its newest message again.
        phone.click("button.info")
        phone.locator(".customer-pane button.back").click()
        phone.wait_for_timeout(200)
        assert (
            phone.evaluate(
                "(() => { const list = document.getElementById('messages');"
                " return list.scrollHeight - list.scrollTop - list.clientHeight; })()"
            )
            < 5
        )


@pytest.mark.parametrize("width", [1280, 390])
def test_the_dashboards_tables_fit_a_laptop_and_say_they_scroll_on_a_phone(
    browser, live_server, deliver, shop_a, width
):
    staff("alice", all_accounts=True)
    deliver(dm(SHOP_A_ID, FIRST_CUSTOMER, "m-1", "Do you ship to Lyon?"))
    page = new_page(browser, width)
    with screenshot_on_failure(page, f"stats-table-{width}"):
        log_in(page, live_server, "alice")
        page.goto(f"{live_server.url}/inbox/stats/")
        for table, hint in (
            ("#per-day", "#daily-scroll-hint"),
            ("#per-account", "#accounts-scroll-hint"),
        ):
            page.locator(table).scroll_into_view_if_needed()
            hidden = page.evaluate(
                f"(() => {{ const box = document.querySelector('{table}').parentElement;"
                " return box.scrollWidth - box.clientWidth; })()"
            )
            if width == 1280:
                assert hidden == 0, table  # every column, its heading included, in sight
                assert not page.locator(hint).is_visible()
            else:
                assert hidden > 0, table
                assert page.locator(hint).is_visible()
        screenshot(page, f"stats-table-{width}")
