"""The admin's one list of every send, in a real browser (Playwright drives Debian's Chromium
on the live server): every kind, filtered by state; screenshots at desktop and phone widths
land in test-artifacts/."""

import pytest

from comments.tests.test_comments_browser import log_in, shoot
from comments.tests.test_outbox_every_kind import (
    OTHER_SHOP,
    SHOP,
    meta_refuses_every_call_of,
    queue_every_kind,
    store_account,
)
from messaging import outbox
from messaging.tests.test_inbox_browser import screenshot_on_failure
from meta import graph

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_staff_see_every_send_of_every_kind_and_filter_them(
    browser_page, live_server, fake_meta, deliver, answering_rules
):
    page = browser_page
    store_account(SHOP, "shop")
    store_account(OTHER_SHOP, "other")
    queue_every_kind(deliver, fake_meta, SHOP, 1)
    queue_every_kind(deliver, fake_meta, OTHER_SHOP, 2)
    # The shop's sends wait (Meta throttles it); the other shop's go.
    throttled, _ = meta_refuses_every_call_of("EAAG-shop-token", graph.RateLimitedError)
    with throttled:
        outbox.send_due(limit=20)
    with screenshot_on_failure(page, "outbox"):
        log_in(page, live_server, "/admin/")
        page.get_by_role("link", name="Outbox: every send").click()
        page.get_by_text("8 sends").wait_for()
        shoot(page, "outbox")
        page.get_by_role("link", name="Queued", exact=True).click()
        page.get_by_text("4 sends").wait_for()
        assert page.locator("#result_list tbody tr").count() == 4
        shoot(page, "outbox-queued")
