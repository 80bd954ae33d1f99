"""A customer's data exported and erased from the inbox, and the public deletion status page,
in a real browser at 1280 and 390 px (screenshots in test-artifacts/)."""

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from inbox.tests.conftest import make_account
from inbox.tests.test_inbox_browser import screenshot
from messaging.models import Conversation, Message
from privacy.models import DataDeletionRequest

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.mark.parametrize("width", [1280, 390])
def test_staff_export_then_erase_a_customer_from_the_inbox(browser, live_server, width):
    User.objects.create_superuser("owner", password="pw-owner-123")
    account = make_account("17841400000000001", "Alpha")
    conversation = Conversation.objects.create(
        account=account,
        instagram_account_id=account.instagram_id,
        customer_id="17000000000000101",
        customer_username="jane.doe",
        last_message_at=timezone.now(),
    )
    Message.objects.create(
        conversation=conversation,
        direction="in",
        author="customer",
        mid="m1",
        text="my address is 1 Main St",
        timestamp=timezone.now(),
    )
    page = browser.new_page(viewport={"width": width, "height": 900}, accept_downloads=True)
    page.set_default_timeout(15_000)
    page.goto(f"{live_server.url}/admin/login/?next=/inbox/?c={conversation.pk}")
    page.fill("#id_username", "owner")
    page.fill("#id_password", "pw-owner-123")
    page.click("input[type=submit]")
    if width < 800:
        page.click("button.info")
    page.wait_for_selector("#customer-privacy:visible")
    screenshot(page, f"privacy-inbox-link-{width}")
    page.click("#customer-privacy")
    page.wait_for_selector("#erase-customer")
    screenshot(page, f"privacy-customer-{width}")
    with page.expect_download() as download:
        page.click("#export-customer")
    assert download.value.suggested_filename.endswith(".json")
    page.check("#confirm-erase")
    page.click("#erase-customer")
    page.wait_for_selector("#customer-erased")
    screenshot(page, f"privacy-customer-erased-{width}")
    assert not Conversation.objects.exists()


@pytest.mark.parametrize("width", [1280, 390])
def test_the_public_deletion_status_page(browser, live_server, width):
    pending = DataDeletionRequest.objects.create(
        login="instagram_login", app_scoped_user_id="1", issued_at=1
    )
    done = DataDeletionRequest.objects.create(
        login="instagram_login",
        app_scoped_user_id="1",
        issued_at=2,
        state="done",
        completed_at=timezone.now(),
        erased={"conversations": 3, "messages": 40},
    )
    page = browser.new_page(viewport={"width": width, "height": 700})
    for deletion, name in ((pending, "pending"), (done, "done")):
        page.goto(f"{live_server.url}/meta/data-deletion/{deletion.confirmation_code}")
        page.wait_for_selector("#deletion-state")
        screenshot(page, f"privacy-deletion-{name}-{width}")
    assert "40 messages" in page.content()
