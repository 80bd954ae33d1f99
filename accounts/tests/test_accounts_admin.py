"""Accounts in the admin: write-only credentials, and a token check against the Graph API."""

import pytest
import responses

from accounts.models import InstagramBusinessAccount

pytestmark = pytest.mark.django_db

ADD = "/admin/accounts/instagrambusinessaccount/add/"
TOKEN = "EAAGm0PX4ZCpsBAKZAp1-secret-token-WXYZ"


def form(**changes):
    data = {
        "name": "Shop",
        "username": "shop",
        "instagram_id": "17841400000000001",
        "page_id": "",
        "api": "facebook_login",
        "access_token": TOKEN,
        "app_secret": "",
        "verify_token": "",
        "is_active": "on",
        "fallback_reply": "",
        "max_sends_per_second": "",
        # The account page's inlines (ice breakers, menu), empty.
        **{
            f"{inline}-{count}": "0"
            for inline in ("ice_breakers", "menu_items")
            for count in ("TOTAL_FORMS", "INITIAL_FORMS")
        },
    }
    data.update(changes)
    return data


def change_url(account):
    return f"/admin/accounts/instagrambusinessaccount/{account.pk}/change/"


def test_an_account_is_added_with_its_token_and_the_page_never_shows_it(admin_client):
    assert admin_client.post(ADD, form()).status_code == 302
    account = InstagramBusinessAccount.objects.get()
    assert account.access_token == TOKEN
    assert account.access_token_set_at is not None
    page = admin_client.get(change_url(account)).content.decode()
    assert TOKEN not in page
    assert "…WXYZ" in page
    assert 'type="password"' in page


def test_an_account_needs_a_token(admin_client):
    response = admin_client.post(ADD, form(access_token=""))
    assert response.status_code == 200
    assert "needs an access token" in response.content.decode()
    assert not InstagramBusinessAccount.objects.exists()


def test_an_empty_token_box_keeps_the_token_and_a_new_one_replaces_it(admin_client):
    admin_client.post(ADD, form(app_secret="app-s3cret"))
    account = InstagramBusinessAccount.objects.get()
    account.mark_token_invalid("expired")

    admin_client.post(change_url(account), form(access_token="", name="Renamed"))
    account.refresh_from_db()
    assert (account.name, account.access_token, account.app_secret) == (
        "Renamed",
        TOKEN,
        "app-s3cret",
    )
    assert account.token_is_invalid

    admin_client.post(change_url(account), form(access_token="EAAG-new-token-0001"))
    account.refresh_from_db()
    assert account.access_token == "EAAG-new-token-0001"
    assert not account.token_is_invalid  # a new token is valid until Meta says otherwise


def test_the_app_secret_and_verify_token_can_be_cleared(admin_client):
    admin_client.post(ADD, form(app_secret="app-s3cret", verify_token="v3rify"))
    account = InstagramBusinessAccount.objects.get()
    admin_client.post(
        change_url(account), form(access_token="", clear_app_secret_and_verify_token="on")
    )
    account.refresh_from_db()
    assert (account.app_secret, account.verify_token) == ("", "")


def test_check_token_records_the_graph_apis_answer(admin_client, settings):
    admin_client.post(ADD, form())
    account = InstagramBusinessAccount.objects.get()
    me = f"{settings.GRAPH_API_BASE_URL}/{settings.GRAPH_API_VERSION}/me"
    with responses.RequestsMock() as graph:
        graph.add(responses.GET, me, json={"id": "1234", "name": "Shop page"})
        response = admin_client.post(
            "/admin/accounts/instagrambusinessaccount/",
            {"action": "check_tokens", "_selected_action": [account.pk]},
            follow=True,
        )
        assert graph.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert "ok: Shop page (1234)" in response.content.decode()
    account.refresh_from_db()
    assert account.token_check_result == "ok: Shop page (1234)"
    assert account.token_checked_at is not None


def test_check_token_marks_a_rejected_token_invalid(admin_client, settings):
    admin_client.post(ADD, form())
    account = InstagramBusinessAccount.objects.get()
    me = f"{settings.GRAPH_API_BASE_URL}/{settings.GRAPH_API_VERSION}/me"
    with responses.RequestsMock() as graph:
        graph.add(
            responses.GET,
            me,
            status=401,
            json={"error": {"message": "Session has expired", "code": 190}},
        )
        admin_client.post(
            "/admin/accounts/instagrambusinessaccount/",
            {"action": "check_tokens", "_selected_action": [account.pk]},
        )
    account.refresh_from_db()
    assert account.token_is_invalid
    assert "Session has expired" in account.token_check_result
    assert (
        "invalid since"
        in admin_client.get("/admin/accounts/instagrambusinessaccount/").content.decode()
    )
