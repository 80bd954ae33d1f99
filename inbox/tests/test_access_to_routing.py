"""Staff limited to one account can't repoint it at Meta, nor learn other accounts' names.

An account's Instagram id routes Meta's deliveries to it. Were staff limited to shop A able to
set shop A's id to that of an account no row stores (one the environment's token answers), the
next DM there would bring that conversation, with its history, into shop A, where they read it.
"""

import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from accounts.models import InstagramBusinessAccount
from inbox.tests.conftest import SHOP_A_ID, dm, staff
from messaging.models import Conversation

pytestmark = pytest.mark.django_db

# An account Meta delivers for that no row stores: the environment's credentials serve it.
UNSTORED_ID = "17841400000000099"


def account_form(account, **changes):
    """The account's change form as the admin posts it, inlines empty."""
    data = {
        "name": account.name,
        "username": account.username,
        "instagram_id": account.instagram_id,
        "page_id": account.page_id,
        "api": account.api,
        "access_token": "",
        "is_active": "on",
        "fallback_reply": "",
        "max_sends_per_second": "",
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


@pytest.fixture
def limited_staff(shop_a, shop_b):
    user = staff("limited", shop_a)
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_commentrule", "view_comment"])
    )
    return user


@pytest.fixture
def unstored_conversation(deliver):
    deliver(dm(UNSTORED_ID, "500", "m-unstored-1", "a private matter"))
    conversation = Conversation.objects.get(instagram_account_id=UNSTORED_ID)
    assert conversation.account is None
    return conversation


def test_limited_staff_see_the_accounts_ids_but_cannot_change_them_in_the_admin(
    client, limited_staff, shop_a, deliver, unstored_conversation
):
    client.force_login(limited_staff)
    page = client.get(change_url(shop_a)).content.decode()
    assert SHOP_A_ID in page
    assert 'name="instagram_id"' not in page and 'name="page_id"' not in page
    assert 'name="app_secret"' not in page and 'name="verify_token"' not in page

    posted = account_form(
        shop_a, name="Alpha renamed", instagram_id=UNSTORED_ID, page_id="1234", app_secret="mine"
    )
    assert client.post(change_url(shop_a), posted).status_code == 302
    shop_a.refresh_from_db()
    assert shop_a.name == "Alpha renamed"  # what is theirs to change was saved
    assert (shop_a.instagram_id, shop_a.page_id, shop_a.app_secret) == (SHOP_A_ID, "", "")

    deliver(dm(UNSTORED_ID, "500", "m-unstored-2", "another private matter"))
    unstored_conversation.refresh_from_db()
    assert unstored_conversation.account is None
    assert "private matter" not in client.get("/inbox/updates").content.decode()


@pytest.mark.parametrize(
    "changes",
    [
        {"instagram_id": UNSTORED_ID},
        {"page_id": "1234"},
        {"app_secret": "mine"},
        {"verify_token": "mine"},
        {"clear_app_secret_and_verify_token": True},
    ],
)
def test_limited_staff_cannot_repoint_their_account_through_the_api(limited_staff, shop_a, changes):
    api = APIClient()
    api.force_authenticate(limited_staff)
    response = api.patch(f"/api/accounts/{shop_a.pk}/", changes, format="json")
    assert response.status_code == 403
    assert "see every account" in response.json()["detail"]
    stored = InstagramBusinessAccount.objects.get(pk=shop_a.pk)
    assert (stored.instagram_id, stored.page_id, stored.app_secret) == (SHOP_A_ID, "", "")


def test_limited_staff_may_send_back_the_ids_they_read_and_change_the_rest(limited_staff, shop_a):
    api = APIClient()
    api.force_authenticate(limited_staff)
    account = api.get(f"/api/accounts/{shop_a.pk}/").json()
    changes = {
        "instagram_id": account["instagram_id"],
        "page_id": account["page_id"],
        "app_secret": "",
        "name": "Alpha renamed",
        "access_token": "EAAG-new-token",
    }
    response = api.patch(f"/api/accounts/{shop_a.pk}/", changes, format="json")
    assert response.status_code == 200, response.content
    shop_a.refresh_from_db()
    assert (shop_a.name, shop_a.access_token) == ("Alpha renamed", "EAAG-new-token")


def test_all_accounts_staff_still_point_an_account_at_an_id_and_it_takes_its_conversations(
    admin_client, shop_a, deliver, unstored_conversation
):
    """Moving from the environment's single account to stored ones, as the README says."""
    posted = account_form(shop_a, instagram_id=UNSTORED_ID)
    assert admin_client.post(change_url(shop_a), posted).status_code == 302
    deliver(dm(UNSTORED_ID, "500", "m-unstored-2", "another private matter"))
    unstored_conversation.refresh_from_db()
    assert unstored_conversation.account == shop_a


@pytest.mark.parametrize(
    "path",
    [
        "/admin/rules/responserule/",
        "/admin/rules/responserule/try/",
        "/admin/comments/commentrule/",
        "/admin/comments/commentrule/try/",
        "/admin/comments/commentrule/media/",
    ],
)
def test_account_menus_offer_only_the_users_accounts(client, limited_staff, shop_b, path):
    client.force_login(limited_staff)
    response = client.get(path)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Alpha" in page
    assert "Bravo" not in page and f'value="{shop_b.pk}"' not in page


@pytest.mark.parametrize(
    "path", ["/admin/rules/responserule/try/", "/admin/comments/commentrule/try/"]
)
def test_an_account_in_other_digits_is_no_account_in_the_try_pages(
    client, limited_staff, shop_a, path
):
    """int() reads an Arabic-Indic one as 1: the menus read ASCII digits only."""
    client.force_login(limited_staff)
    other_digits = str(shop_a.pk).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    page = client.get(path, {"text": "hours", "account": other_digits}).content.decode()
    assert "Select a valid choice" in page
