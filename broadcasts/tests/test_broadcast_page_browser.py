"""The broadcast page in a real browser (Debian's Chromium): staff write a broadcast, see who
it reaches now and why not the others, send it, and see how it goes; at 1280 and 390 px."""

import pytest
from django.contrib.auth.models import Permission

from broadcasts.models import Broadcast
from inbox.tests.conftest import staff
from inbox.tests.test_inbox_browser import (  # noqa: F401  (fixtures)
    browser,
    log_in,
    new_page,
    screenshot,
    screenshot_on_failure,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_staff_see_the_reach_then_send_a_broadcast(
    browser,  # noqa: F811
    live_server,
    shops,
    mixed_segment,
):
    alice = staff("alice", shops[0])
    alice.user_permissions.add(*Permission.objects.filter(content_type__app_label="broadcasts"))
    page = new_page(browser, 1280)
    with screenshot_on_failure(page, "broadcast"):
        log_in(page, live_server, "alice")
        page.goto(f"{live_server.url}/admin/broadcasts/broadcast/add/")
        page.select_option("#id_account", str(shops[0].pk))
        page.fill("#id_name", "Winter sale")
        page.fill("#id_text", "Winter sale: 20% off until Sunday. Reply SIZE for your size.")
        page.fill("#id_tags", "vip")
        page.click("input[name=_continue]")
        page.locator("#reach", has_text="2 of 5 contacts").wait_for()
        screenshot(page, "broadcast-draft-1280")

        phone = new_page(browser, 390, 844)
        log_in(phone, live_server, "alice")
        phone.goto(page.url)
        phone.locator("#reach").wait_for()
        screenshot(phone, "broadcast-draft-390")

        page.click("input[name=_send]")
        page.locator(".messagelist", has_text="Sending: 4 DMs queued").wait_for()
        screenshot(page, "broadcast-sending-1280")
        phone.goto(page.url)
        phone.locator("#reach", has_text="4 waiting").wait_for()
        screenshot(phone, "broadcast-sending-390")

    assert Broadcast.objects.get().status == Broadcast.Status.QUEUED
