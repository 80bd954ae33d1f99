"""Each account's setup check: in the admin (with a button that subscribes missing webhook
fields) and `manage.py check_setup` (non-zero exit when something is wrong)."""

import io

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from accounts import setup_check
from accounts.models import InstagramBusinessAccount
from accounts.tests.connect_helpers import authorize, come_back

pytestmark = pytest.mark.django_db


@pytest.fixture
def connected(fake_meta, client):
    user = User.objects.create_user("owner", password="pw", is_staff=True, is_superuser=True)
    client.force_login(user)
    come_back(client, "instagram_login", authorize(client, "instagram_login"))
    return InstagramBusinessAccount.objects.get()


def run_check_setup(*args) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("check_setup", *args, stdout=out)
    except SystemExit as exc:
        return exc.code, out.getvalue()
    return 0, out.getvalue()


def test_a_freshly_connected_account_passes(connected, client):
    checks = setup_check.check_account(connected)
    assert [c.name for c in checks if not c.ok] == []
    page = client.get(f"/admin/accounts/instagrambusinessaccount/{connected.pk}/setup/")
    assert page.status_code == 200 and b"Everything is set up" in page.content
    status, out = run_check_setup("--account", connected.instagram_id)
    assert status == 0, out
    assert "ok      Webhook fields" in out


def test_missing_webhook_fields_are_shown_and_subscribed_by_the_button(
    connected, client, fake_meta
):
    fake_meta.oauth.subscriptions["ig:17841400000000001"] = ["messages"]
    page = client.get(f"/admin/accounts/instagrambusinessaccount/{connected.pk}/setup/")
    assert b"Missing: messaging_postbacks" in page.content
    assert b"Subscribe the missing fields" in page.content
    status, out = run_check_setup("--account", "@fake.business")
    assert status == 1 and "PROBLEM Webhook fields" in out

    answer = client.post(f"/admin/accounts/instagrambusinessaccount/{connected.pk}/setup/")

    assert answer.status_code == 302
    assert "comments" in fake_meta.oauth.subscriptions["ig:17841400000000001"]
    assert run_check_setup()[0] == 0


def test_a_missing_permission_says_which_feature_it_switches_off(connected):
    connected.granted_permissions = [
        "instagram_business_basic",
        "instagram_business_manage_messages",
    ]
    connected.save()
    check = next(c for c in setup_check.check_account(connected) if c.name == "Permissions")
    assert not check.ok
    assert "instagram_business_manage_comments (switches off: Comments and mentions" in check.detail


def test_a_refused_token_is_a_problem_to_reconnect(connected, fake_meta):
    fake_meta.oauth.revoke_all()
    checks = {c.name: c for c in setup_check.check_account(connected)}
    assert not checks["Access token"].ok and "Reconnect" in checks["Access token"].fix
    connected.refresh_from_db()
    assert connected.needs_reconnect


def test_a_pasted_token_has_unknown_permissions(fake_meta):
    account = InstagramBusinessAccount(instagram_id="17841400000000009", name="Pasted")
    account.set_access_token("EAAG-pasted")
    account.save()
    check = next(c for c in setup_check.check_account(account) if c.name == "Permissions")
    assert not check.ok and "pasted by hand" in check.detail


def test_the_callback_urls_come_from_the_public_hosts(settings):
    settings.ALLOWED_HOSTS = ["localhost", "bot.example.com", ".example.org"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://inbox.example.net"]
    urls = setup_check.callback_urls()
    origins = [o["origin"] for o in urls]
    assert origins == ["https://inbox.example.net", "https://bot.example.com"]
    listed = dict(urls[1]["urls"])
    assert listed["Webhooks callback URL (Instagram, both logins)"] == (
        "https://bot.example.com/webhooks/instagram"
    )
    assert listed["Data deletion request URL"] == "https://bot.example.com/meta/data-deletion"


def test_check_setup_names_an_unknown_account():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("check_setup", "--account", "nobody", stdout=io.StringIO())


def test_the_account_page_says_how_it_was_connected(connected, client):
    page = client.get(f"/admin/accounts/instagrambusinessaccount/{connected.pk}/change/")
    assert b"Connected with Instagram API with Instagram Login" in page.content
    assert b"instagram_business_manage_messages" in page.content
    assert b"Setup check" in page.content
