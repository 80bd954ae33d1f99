"""The contact in the inbox's customer pane, in a real browser (Debian's Chromium): staff
tag a customer and fill in their fields; a wrong email is refused in place."""

import pytest

from contacts.models import Contact, ContactField
from inbox.tests.conftest import SHOP_A_ID, dm, shop_a, staff  # noqa: F401
from inbox.tests.test_inbox_browser import (  # noqa: F401  (fixtures)
    browser,
    fake_graph,
    log_in,
    new_page,
    screenshot,
    screenshot_on_failure,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

CUSTOMER = "17000000000000101"


def test_staff_tag_a_customer_and_fill_in_their_fields(
    browser,  # noqa: F811
    live_server,
    deliver,
    fake_graph,  # noqa: F811
    run_worker,
    shop_a,  # noqa: F811
):
    from django.contrib.auth.models import Permission

    alice = staff("alice", all_accounts=True)
    alice.user_permissions.add(Permission.objects.get(codename="change_contact"))
    ContactField.objects.create(account=shop_a, key="email", label="Email", kind="email")
    ContactField.objects.create(
        account=shop_a, key="size", label="Size", kind="choice", choices="S\nM\nL"
    )
    ContactField.objects.create(account=shop_a, key="birthday", label="Birthday", kind="date")
    deliver(
        dm(SHOP_A_ID, CUSTOMER, "m-first", "Do you ship to Lyon?", payload="messages__referral")
    )
    run_worker()

    page = new_page(browser, 1280)
    with screenshot_on_failure(page, "inbox-contact"):
        log_in(page, live_server, "alice")
        page.locator("#needs-list").get_by_text("@customer_0101").click()
        page.locator("#contact-source").get_by_text("An ad").wait_for()

        page.fill("#contact-tags", "vip, lyon")
        page.fill("input[name='field:email']", "not-an-email")
        page.select_option("select[name='field:size']", "M")
        page.click("#contact-form button[type=submit]")
        page.locator("#contact-error", has_text="valid email").wait_for()
        screenshot(page, "inbox-contact-refused-1280")

        page.fill("input[name='field:email']", "ana@example.com")
        page.fill("input[name='field:birthday']", "1990-04-02")
        page.click("#contact-form button[type=submit]")
        page.locator("#contact-tag-list .tag", has_text="vip").wait_for()
        assert page.locator("#contact-error").is_hidden()
        screenshot(page, "inbox-contact-1280")

        phone = new_page(browser, 390, 844)
        log_in(phone, live_server, "alice")
        phone.locator("#needs-list").get_by_text("@customer_0101").click()
        phone.locator("button.info").click()
        phone.locator("#contact-tag-list .tag", has_text="lyon").wait_for()
        screenshot(phone, "inbox-contact-390")

    contact = Contact.objects.get()
    assert sorted(contact.tags.values_list("name", flat=True)) == ["lyon", "vip"]
    assert dict(contact.values.values_list("field__key", "value")) == {
        "email": "ana@example.com",
        "size": "M",
        "birthday": "1990-04-02",
    }
