"""What staff see of knowledge in a real browser (Chromium, 1280 and 390 px): the entries,
Try a message with the entries and scores, "answered from" in the inbox thread with the
good/wrong verdict, and the dashboard's counts. Screenshots land in test-artifacts/."""

import pytest
from django.contrib.auth.models import User

from inbox.tests.conftest import SHOP_A_ID, dm
from inbox.tests.test_inbox_browser import new_page, screenshot
from knowledge.models import KnowledgeAnswer, KnowledgeSettings
from knowledge.tests.conftest import load_shop_knowledge
from messaging.models import Conversation

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

LAPTOP, PHONE = 1280, 390


@pytest.fixture
def shop(shop_a, deliver):
    load_shop_knowledge(shop_a)
    KnowledgeSettings.objects.create(account=shop_a, mode=KnowledgeSettings.Mode.FAQ)
    User.objects.create_superuser("alice", "alice@example.com", "pw-staff-123")
    deliver(dm(SHOP_A_ID, "17000000000000101", "mid.k1", "Hi! can i pay with apple pay?"))
    deliver(dm(SHOP_A_ID, "17000000000000101", "mid.k2", "and do you have a size guide?"))
    deliver(dm(SHOP_A_ID, "17000000000000202", "mid.k3", "do you sell shoes?"))
    return shop_a


def log_in(page, live_server, next_url):
    page.goto(f"{live_server.url}/admin/login/?next={next_url}")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "pw-staff-123")
    page.click("input[type=submit]")
    page.wait_for_url(f"**{next_url}")


def page_width(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


@pytest.mark.parametrize("width", [LAPTOP, PHONE])
def test_staff_see_what_an_answer_came_from_and_mark_it_wrong(browser, live_server, shop, width):
    page = new_page(browser, width, 900 if width == LAPTOP else 844)
    log_in(page, live_server, "/inbox/")
    page.locator("a.conversation").filter(has_text="0101").first.click()
    answered = page.locator(".answered-from").first
    answered.get_by_text("Answered from: Payment methods").wait_for()
    assert page_width(page) <= width
    screenshot(page, f"knowledge-thread-{width}")
    if width == LAPTOP:
        answered.locator("button.judge-wrong").click()
        page.locator(".answered-from .judge-wrong[aria-pressed=true]").first.wait_for()
        page.wait_for_function("document.querySelector('#needs-list').innerText.includes('0101')")
        screenshot(page, f"knowledge-thread-judged-{width}")
        assert KnowledgeAnswer.objects.filter(verdict="wrong").count() == 1
        assert Conversation.objects.get(customer_id="17000000000000101").needs_reply


@pytest.mark.parametrize("width", [LAPTOP, PHONE])
def test_try_a_message_shows_entries_and_scores(browser, live_server, shop, width):
    page = new_page(browser, width)
    log_in(page, live_server, "/admin/rules/responserule/")
    page.goto(
        f"{live_server.url}/admin/rules/responserule/try/"
        f"?text=can+i+pay+with+apple+pay%3F&account={shop.pk}"
    )
    page.get_by_text("Knowledge would answer from: Payment methods").wait_for()
    assert page_width(page) <= width
    screenshot(page, f"knowledge-try-{width}")


@pytest.mark.parametrize("width", [LAPTOP, PHONE])
def test_the_entries_and_the_dashboard(browser, live_server, shop, width):
    page = new_page(browser, width)
    log_in(page, live_server, "/admin/knowledge/knowledgeentry/")
    page.get_by_text("Import CSV").wait_for()
    assert page_width(page) <= width
    screenshot(page, f"knowledge-entries-{width}")
    page.goto(f"{live_server.url}/inbox/stats/")
    table = page.locator("#knowledge-figures")
    table.get_by_text("Handed to a person").wait_for()
    table.scroll_into_view_if_needed()
    assert page_width(page) <= width
    screenshot(page, f"knowledge-stats-{width}")
