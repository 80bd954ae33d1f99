"""Connecting an account through Meta's login (the fake Graph API stands in for Meta)."""

import logging

import pytest
import requests
from django.contrib.auth.models import Permission, User

from accounts.models import AccountAccess, InstagramBusinessAccount
from accounts.tests.connect_helpers import authorize, come_back
from messaging.models import Conversation

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, db):
    user = User.objects.create_user("owner", password="pw", is_staff=True, is_superuser=True)
    client.force_login(user)
    return client


def test_instagram_login_connects_the_account_and_subscribes_its_webhooks(fake_meta, staff_client):
    query = authorize(staff_client, "instagram_login")
    answer = come_back(staff_client, "instagram_login", query)

    assert answer.status_code == 200
    account = InstagramBusinessAccount.objects.get()
    assert account.instagram_id == "17841400000000001"  # /me's user_id: what webhooks carry
    assert account.app_scoped_user_id == "26000000000000001"  # /me's id: what callbacks carry
    assert account.username == "fake.business"
    assert account.api == InstagramBusinessAccount.Api.INSTAGRAM_LOGIN
    assert account.access_token.startswith("IGAAl")  # the long-lived token, not the short one
    assert account.access_token_expires_at is not None
    assert "instagram_business_manage_messages" in account.granted_permissions
    subscribed = fake_meta.oauth.subscriptions["ig:17841400000000001"]
    assert {"messages", "messaging_postbacks", "comments", "mentions"} <= set(subscribed)
    assert b"is connected" in answer.content


@pytest.mark.parametrize("shape", ["flat", "data"])
@pytest.mark.parametrize("as_list", [True, False])
def test_either_shape_of_the_token_answer_is_read(fake_meta, staff_client, shape, as_list):
    fake_meta.oauth.configure({"answer_shape": shape, "permissions_as_list": as_list})
    come_back(staff_client, "instagram_login", authorize(staff_client, "instagram_login"))
    account = InstagramBusinessAccount.objects.get()
    assert "instagram_business_basic" in account.granted_permissions


def test_a_second_connect_of_the_same_account_keeps_its_row_and_history(fake_meta, staff_client):
    come_back(staff_client, "instagram_login", authorize(staff_client, "instagram_login"))
    account = InstagramBusinessAccount.objects.get()
    first_token = account.access_token
    Conversation.objects.create(
        account=account, instagram_account_id=account.instagram_id, customer_id="17000000000000001"
    )
    account.mark_token_invalid("Graph API error 190: Session has expired")

    answer = come_back(staff_client, "instagram_login", authorize(staff_client, "instagram_login"))

    assert answer.status_code == 200 and b"connected again" in answer.content
    again = InstagramBusinessAccount.objects.get()
    assert again.pk == account.pk
    assert again.access_token != first_token
    assert again.token_invalid_since is None and not again.needs_reconnect
    assert again.conversations.count() == 1


def test_a_reused_state_is_refused_and_nothing_is_stored(fake_meta, staff_client, caplog):
    query = authorize(staff_client, "instagram_login")
    assert come_back(staff_client, "instagram_login", query).status_code == 200
    InstagramBusinessAccount.objects.all().delete()

    with caplog.at_level(logging.WARNING):
        again = come_back(staff_client, "instagram_login", query)

    assert again.status_code == 400
    assert b"already used" in again.content
    assert not InstagramBusinessAccount.objects.exists()
    assert query["code"] not in caplog.text


def test_an_unknown_state_is_refused(fake_meta, staff_client):
    query = authorize(staff_client, "instagram_login")
    answer = come_back(staff_client, "instagram_login", {**query, "state": "forged"})
    assert answer.status_code == 400
    assert not InstagramBusinessAccount.objects.exists()


def test_a_cancelled_authorization_stores_nothing(fake_meta, staff_client, caplog):
    query = authorize(staff_client, "instagram_login", decision="cancel")
    assert "state" not in query and query["error"] == "access_denied"
    with caplog.at_level(logging.WARNING):
        answer = come_back(staff_client, "instagram_login", query)
    assert answer.status_code == 400 and b"cancelled" in answer.content
    assert not InstagramBusinessAccount.objects.exists()
    assert "refused" in caplog.text


def test_a_code_meta_refuses_is_a_clear_page(fake_meta, staff_client, settings, caplog):
    query = authorize(staff_client, "instagram_login")
    settings.INSTAGRAM_APP_SECRET = "not-the-app-secret"
    with caplog.at_level(logging.WARNING):
        answer = come_back(staff_client, "instagram_login", query)
    assert answer.status_code == 400
    assert b"Error validating client secret" in answer.content
    assert not InstagramBusinessAccount.objects.exists()
    assert query["code"] not in caplog.text and "not-the-app-secret" not in caplog.text


def test_a_personal_account_cannot_be_connected(fake_meta, staff_client):
    fake_meta.oauth.configure({"account_type": "PERSONAL"})
    answer = come_back(staff_client, "instagram_login", authorize(staff_client, "instagram_login"))
    assert answer.status_code == 400 and b"professional" in answer.content
    assert not InstagramBusinessAccount.objects.exists()


def test_staff_without_the_add_permission_cannot_connect(fake_meta, client):
    user = User.objects.create_user("clerk", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_instagrambusinessaccount"))
    client.force_login(user)
    answer = client.get("/accounts/connect/instagram_login/")
    assert answer.status_code == 403
    answer = client.get("/accounts/connect/instagram_login/callback", {"code": "x", "state": "y"})
    assert answer.status_code == 403
    assert not InstagramBusinessAccount.objects.exists()


def test_limited_staff_get_access_to_what_they_connect(fake_meta, client):
    user = User.objects.create_user("agent", password="pw", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["add_instagrambusinessaccount", "view_instagrambusinessaccount"]
        )
    )
    client.force_login(user)
    come_back(client, "instagram_login", authorize(client, "instagram_login"))
    assert AccountAccess.objects.filter(user=user, account__username="fake.business").exists()


def test_facebook_login_connects_the_chosen_pages_accounts(fake_meta, staff_client):
    answer = come_back(staff_client, "facebook_login", authorize(staff_client, "facebook_login"))
    assert answer.status_code == 200
    assert b"fake.shop" in answer.content and b"fake.cafe" in answer.content
    assert b"without Instagram" not in answer.content
    assert not InstagramBusinessAccount.objects.exists()  # nothing until the choice

    chosen = staff_client.post(
        "/accounts/connect/pages", {"instagram_id": ["17841400000000101", "17841400000000102"]}
    )

    assert chosen.status_code == 200
    accounts = {a.instagram_id: a for a in InstagramBusinessAccount.objects.all()}
    assert set(accounts) == {"17841400000000101", "17841400000000102"}
    shop = accounts["17841400000000101"]
    assert shop.api == InstagramBusinessAccount.Api.FACEBOOK_LOGIN
    assert shop.page_id == "100000000000101"
    assert shop.access_token.startswith("EAAp")  # the Page's token
    assert shop.app_scoped_user_id == "10000000000000007"
    assert "pages_messaging" in shop.granted_permissions
    assert "messages" in fake_meta.oauth.subscriptions["page:100000000000101"]
    # The choice is used once.
    assert staff_client.post("/accounts/connect/pages", {"instagram_id": ["1"]}).status_code == 400


def test_the_redirect_uri_is_the_staff_users_host(fake_meta, staff_client, settings):
    settings.ALLOWED_HOSTS = ["bot.example.com"]
    started = staff_client.get("/accounts/connect/instagram_login/", HTTP_HOST="bot.example.com")
    callback = "http%3A%2F%2Fbot.example.com%2Faccounts%2Fconnect%2Finstagram_login%2Fcallback"
    assert f"redirect_uri={callback}" in started["Location"]


def test_meta_refuses_a_redirect_uri_that_differs(fake_meta, staff_client):
    from meta import oauth

    query = authorize(staff_client, "instagram_login")
    with pytest.raises(oauth.AuthorizationRefused, match="redirect_uri"):
        oauth.exchange_instagram_code(query["code"], "https://elsewhere.example/callback")


def test_the_fake_refuses_a_used_code_as_meta_does(fake_meta, staff_client):
    query = authorize(staff_client, "facebook_login")
    come_back(staff_client, "facebook_login", query)
    answer = requests.get(
        f"{fake_meta.base_url}/v21.0/oauth/access_token",
        params={
            "client_id": "1000000000000001",
            "client_secret": "test-app-secret",
            "redirect_uri": "http://testserver/accounts/connect/facebook_login/callback",
            "code": query["code"],
        },
        timeout=5,
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["error_subcode"] == 36009


@pytest.mark.parametrize(
    "query",
    [
        {"state": "é" * 10, "code": "x"},
        {"state": "\x00", "code": "x"},
        {"state": "s" * 100_000, "code": "x"},
        {"code": "x"},
        {"error": "access_denied", "state": "x" * 5000},
        {},
    ],
    ids=["non-ascii", "nul", "huge", "no-state", "error", "nothing"],
)
def test_a_hostile_callback_is_a_clear_refusal(fake_meta, staff_client, query):
    authorize(staff_client, "instagram_login")
    answer = come_back(staff_client, "instagram_login", query)
    assert answer.status_code == 400
    assert not InstagramBusinessAccount.objects.exists()


def test_a_hostile_code_with_a_good_state_is_refused(fake_meta, staff_client):
    query = authorize(staff_client, "instagram_login")
    answer = come_back(staff_client, "instagram_login", {**query, "code": "a\x00b"})
    assert answer.status_code == 400
    assert not InstagramBusinessAccount.objects.exists()


def test_an_unknown_login_is_refused(fake_meta, staff_client):
    assert staff_client.get("/accounts/connect/myspace_login/").status_code == 400
    assert (
        staff_client.get("/accounts/connect/myspace_login/callback?code=x&state=y").status_code
        == 400
    )


def test_choosing_pages_without_a_facebook_login_is_refused(fake_meta, staff_client):
    assert staff_client.get("/accounts/connect/pages").status_code == 400
    assert staff_client.post("/accounts/connect/pages", {"instagram_id": "1"}).status_code == 400


def test_without_an_encryption_key_connecting_is_refused_before_meta(
    fake_meta, staff_client, settings
):
    settings.FIELD_ENCRYPTION_KEY = []
    answer = staff_client.get("/accounts/connect/instagram_login/")
    assert answer.status_code == 400 and b"FIELD_ENCRYPTION_KEY" in answer.content


def test_connect_is_refused_clearly_when_the_login_is_not_set_up(fake_meta, staff_client, settings):
    settings.INSTAGRAM_APP_ID = ""
    page = staff_client.get("/accounts/connect/")
    assert b"Not set up on this server" in page.content
    answer = staff_client.get("/accounts/connect/instagram_login/")
    assert answer.status_code == 400 and b"not set up" in answer.content


def test_limited_staff_cannot_take_over_an_account_stored_for_others(fake_meta, client):
    existing = InstagramBusinessAccount(instagram_id="17841400000000001", name="Theirs")
    existing.set_access_token("EAAG-theirs")
    existing.save()
    user = User.objects.create_user("agent", password="pw", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["add_instagrambusinessaccount", "view_instagrambusinessaccount"]
        )
    )
    client.force_login(user)

    answer = come_back(client, "instagram_login", authorize(client, "instagram_login"))

    assert answer.status_code == 403 and b"ask an administrator" in answer.content
    existing.refresh_from_db()
    assert existing.access_token == "EAAG-theirs"
    assert not AccountAccess.objects.filter(user=user).exists()
