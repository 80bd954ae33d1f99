"""Connecting accounts in a real browser: Debian's Chromium on the live server, the fake Graph
API's login pages standing in for Meta's. Screenshots at 1280 and 390 px land in
test-artifacts/."""

import pytest
from django.contrib.auth.models import User

from accounts.models import InstagramBusinessAccount
from inbox.tests.test_inbox_browser import screenshot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

WIDTHS = [1280, 390]


@pytest.fixture
def owner(db):
    return User.objects.create_superuser("owner", password="pw-owner-123")


def logged_in(browser, live_server, width, path="/admin/accounts/instagrambusinessaccount/"):
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.set_default_timeout(15_000)
    page.goto(f"{live_server.url}/admin/login/?next={path}")
    page.fill("#id_username", "owner")
    page.fill("#id_password", "pw-owner-123")
    page.click("input[type=submit]")
    page.wait_for_url(f"**{path}")
    return page


def shot(page, name):
    screenshot(page, name)


@pytest.mark.parametrize("width", WIDTHS)
def test_connect_with_instagram_login_then_the_setup_check(
    fake_meta, browser, live_server, owner, width
):
    page = logged_in(browser, live_server, width)
    shot(page, f"connect-accounts-list-empty-{width}")
    page.click("#connect-account-tool")
    page.wait_for_selector("#connect-instagram_login")
    shot(page, f"connect-choose-login-{width}")
    page.click("#connect-instagram_login")
    page.wait_for_selector("#allow")
    shot(page, f"connect-fake-instagram-authorize-{width}")
    page.click("#allow")
    page.wait_for_selector("#connected-17841400000000001")
    shot(page, f"connect-instagram-connected-{width}")
    assert "is connected" in page.content()

    page.click("text=Setup check for")
    page.wait_for_selector("#setup-summary")
    shot(page, f"setup-check-{width}")
    assert "Everything is set up" in page.inner_text("#setup-summary")

    fake_meta.oauth.subscriptions["ig:17841400000000001"] = ["messages"]
    page.reload()
    page.wait_for_selector("#subscribe-missing")
    shot(page, f"setup-check-missing-fields-{width}")
    page.click("#subscribe-missing")
    page.wait_for_selector("text=subscribed to")
    assert "Everything is set up" in page.inner_text("#setup-summary")

    account = InstagramBusinessAccount.objects.get()
    page.goto(f"{live_server.url}/admin/accounts/instagrambusinessaccount/{account.pk}/change/")
    page.wait_for_selector("#connection-info")
    shot(page, f"account-connected-info-{width}")


@pytest.mark.parametrize("width", WIDTHS)
def test_connect_several_accounts_with_facebook_login(
    fake_meta, browser, live_server, owner, width
):
    page = logged_in(browser, live_server, width, "/inbox/")
    shot(page, f"connect-inbox-no-account-{width}")
    page.click("#connect-account")
    page.click("#connect-facebook_login")
    page.wait_for_selector("#allow")
    page.click("#allow")
    page.wait_for_selector("#connect-chosen")
    shot(page, f"connect-facebook-choose-pages-{width}")
    page.click("#connect-chosen")
    page.wait_for_selector("#connected-17841400000000102")
    shot(page, f"connect-facebook-connected-{width}")
    assert InstagramBusinessAccount.objects.count() == 2


@pytest.mark.parametrize("width", WIDTHS)
def test_cancel_at_meta_stores_nothing(fake_meta, browser, live_server, owner, width):
    page = logged_in(browser, live_server, width)
    page.goto(f"{live_server.url}/accounts/connect/")
    page.click("#connect-instagram_login")
    page.click("#cancel")
    page.wait_for_selector(".refused")
    shot(page, f"connect-cancelled-{width}")
    assert "cancelled" in page.inner_text(".refused")
    assert not InstagramBusinessAccount.objects.exists()


@pytest.mark.parametrize("width", WIDTHS)
def test_reconnect_after_a_190(fake_meta, browser, live_server, owner, width):
    page = logged_in(browser, live_server, width, "/inbox/")
    page.click("#connect-account")
    page.click("#connect-instagram_login")
    page.click("#allow")
    page.wait_for_selector("#connected-17841400000000001")
    account = InstagramBusinessAccount.objects.get()
    account.mark_token_invalid(
        "Graph API error 190 (HTTP 400): Error validating access token: Session has expired"
    )

    page.goto(f"{live_server.url}/inbox/")
    page.wait_for_selector(".reconnect")
    shot(page, f"reconnect-banner-inbox-{width}")
    page.goto(f"{live_server.url}/admin/accounts/instagrambusinessaccount/")
    page.wait_for_selector(".reconnect")
    shot(page, f"reconnect-banner-admin-{width}")
    page.click(".reconnect-link")
    page.click("#connect-instagram_login")
    page.click("#allow")
    page.wait_for_selector("#connected-17841400000000001")
    assert "connected again" in page.content()
    account.refresh_from_db()
    assert not account.needs_reconnect
    page.goto(f"{live_server.url}/inbox/")
    assert page.locator(".reconnect").count() == 0
