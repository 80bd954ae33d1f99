"""What staff type for an account: the admin and the API take and refuse the same things."""

import pytest
from cryptography.fernet import Fernet

from accounts.models import CREDENTIAL_MAX_LENGTH, InstagramBusinessAccount
from accounts.tests.test_accounts_admin import ADD, change_url
from accounts.tests.test_accounts_admin import form as admin_form
from accounts.tests.test_accounts_api import TOKEN
from accounts.tests.test_accounts_api import create as api_create

pytestmark = pytest.mark.django_db

BAD_IDS = ["abc", "-5", "١٢٣", "²", "12 34", "1" * 65, "0x1F"]


@pytest.mark.parametrize("instagram_id", BAD_IDS)
def test_the_api_refuses_an_instagram_id_that_is_not_ascii_digits(api, instagram_id):
    response = api_create(api, instagram_id=instagram_id)
    assert response.status_code == 400
    assert "instagram_id" in response.json()
    assert not InstagramBusinessAccount.objects.exists()


@pytest.mark.parametrize("instagram_id", BAD_IDS)
def test_the_admin_refuses_an_instagram_id_that_is_not_ascii_digits(admin_client, instagram_id):
    response = admin_client.post(ADD, admin_form(instagram_id=instagram_id))
    assert response.status_code == 200
    assert "instagram_id" in response.context["adminform"].form.errors
    assert not InstagramBusinessAccount.objects.exists()


def test_a_page_id_is_digits_too(api, admin_client):
    assert "page_id" in api_create(api, page_id="my-page").json()
    assert "Digits 0-9 only" in admin_client.post(ADD, admin_form(page_id="x")).content.decode()


def test_the_fallback_reply_is_capped_at_2000_characters_in_both(api, admin_client):
    response = api_create(api, fallback_reply="x" * 2001)
    assert response.status_code == 400
    assert "2000" in str(response.json()["fallback_reply"])
    page = admin_client.post(ADD, admin_form(fallback_reply="x" * 2001)).content.decode()
    assert "at most 2000 characters" in page
    assert not InstagramBusinessAccount.objects.exists()
    assert api_create(api, fallback_reply="x" * 2000).status_code == 201


def test_a_send_rate_of_zero_is_refused_in_both(api, admin_client):
    assert "max_sends_per_second" in api_create(api, max_sends_per_second=0).json()
    page = admin_client.post(ADD, admin_form(max_sends_per_second="0")).content.decode()
    assert "greater than or equal to 1" in page


def test_the_send_rate_help_says_it_can_only_be_lower(api):
    field = InstagramBusinessAccount._meta.get_field("max_sends_per_second")
    assert "can only be lower" in field.help_text
    schema = " ".join(api.get("/api/schema/").content.decode().split())
    assert "can only be lower" in schema


def test_inactive_on_create_is_kept_in_both(api, admin_client):
    assert api_create(api, is_active=False).json()["is_active"] is False
    admin_client.post(ADD, admin_form(instagram_id="17841400000000002", is_active=""))
    assert not InstagramBusinessAccount.objects.get(instagram_id="17841400000000002").is_active


def test_a_blank_token_keeps_the_stored_one_in_the_api_as_in_the_admin(api):
    account_id = api_create(api).json()["id"]
    response = api.patch(
        f"/api/accounts/{account_id}/",
        {"access_token": "", "app_secret": "", "verify_token": "  ", "name": "Renamed"},
        format="json",
    )
    assert response.status_code == 200
    account = InstagramBusinessAccount.objects.get()
    assert (account.name, account.access_token, account.app_secret, account.verify_token) == (
        "Renamed",
        TOKEN,
        "app-s3cret",
        "v3rify",
    )


def test_the_api_clears_the_other_apps_secret_only_when_asked(api):
    account_id = api_create(api).json()["id"]
    url = f"/api/accounts/{account_id}/"
    response = api.patch(url, {"clear_app_secret_and_verify_token": True}, format="json")
    assert response.status_code == 200
    account = InstagramBusinessAccount.objects.get()
    assert (account.access_token, account.app_secret, account.verify_token) == (TOKEN, "", "")


@pytest.mark.parametrize("where", ["api", "admin"])
def test_a_new_token_clears_what_was_found_out_about_the_old_one(api, admin_client, where):
    api_create(api)
    account = InstagramBusinessAccount.objects.get()
    account.mark_token_invalid("Error validating access token: Session has expired (190)")
    if where == "api":
        api.patch(f"/api/accounts/{account.pk}/", {"access_token": "EAAG-new-1"}, format="json")
    else:
        admin_client.post(change_url(account), admin_form(access_token="EAAG-new-1"))
    account.refresh_from_db()
    assert account.access_token == "EAAG-new-1"
    assert (account.token_invalid_since, account.token_checked_at) == (None, None)
    assert account.token_check_result == ""
    listing = api.get("/api/accounts/").json()["results"][0]
    assert "Session has expired" not in str(listing)


# --- FIELD_ENCRYPTION_KEY wrong or missing ---


@pytest.fixture
def account_on_a_lost_key(settings):
    """An account whose credentials were stored with a key the service no longer has."""
    settings.FIELD_ENCRYPTION_KEY = [Fernet.generate_key().decode()]
    account = InstagramBusinessAccount(
        instagram_id="17841400000000001", name="Shop", app_secret="app-s3cret"
    )
    account.set_access_token(TOKEN)
    account.save()
    settings.FIELD_ENCRYPTION_KEY = [Fernet.generate_key().decode()]
    return account


def test_the_api_lists_an_account_whose_credentials_cannot_be_opened(api, account_on_a_lost_key):
    response = api.get("/api/accounts/")
    assert response.status_code == 200
    (listed,) = response.json()["results"]
    assert listed["access_token_hint"] == "unreadable"
    assert listed["unreadable_credentials"] == ["access_token", "app_secret"]
    assert api.get(f"/api/accounts/{account_on_a_lost_key.pk}/").status_code == 200


def test_the_api_can_replace_credentials_no_key_opens(api, account_on_a_lost_key):
    response = api.patch(
        f"/api/accounts/{account_on_a_lost_key.pk}/",
        {"access_token": "EAAG-new-1", "app_secret": "new-s3cret"},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["unreadable_credentials"] == []
    account = InstagramBusinessAccount.objects.get()
    assert (account.access_token, account.app_secret) == ("EAAG-new-1", "new-s3cret")


def test_renaming_an_account_whose_credentials_cannot_be_opened_keeps_them(
    api, account_on_a_lost_key
):
    url = f"/api/accounts/{account_on_a_lost_key.pk}/"
    assert api.patch(url, {"name": "Renamed"}, format="json").status_code == 200
    assert InstagramBusinessAccount.objects.get().unreadable_credentials() == [
        "access_token",
        "app_secret",
    ]


def test_the_admin_shows_and_edits_an_account_whose_credentials_cannot_be_opened(
    admin_client, account_on_a_lost_key
):
    listing = admin_client.get("/admin/accounts/instagrambusinessaccount/")
    assert listing.status_code == 200
    assert "unreadable" in listing.content.decode()
    url = change_url(account_on_a_lost_key)
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(url, admin_form(access_token="", name="Renamed"))
    assert response.status_code == 302
    account = InstagramBusinessAccount.objects.get()
    assert account.name == "Renamed"
    assert account.unreadable_credentials() == ["access_token", "app_secret"]
    admin_client.post(url, admin_form(access_token="EAAG-new-1", app_secret="new-s3cret"))
    account = InstagramBusinessAccount.objects.get()
    assert (account.access_token, account.app_secret) == ("EAAG-new-1", "new-s3cret")


def test_without_a_key_storing_a_credential_is_a_503_in_the_api(api, settings):
    settings.FIELD_ENCRYPTION_KEY = []
    response = api_create(api)
    assert response.status_code == 503
    assert "FIELD_ENCRYPTION_KEY is not set" in response.json()["detail"]
    assert not InstagramBusinessAccount.objects.exists()


def test_without_a_key_the_admin_form_says_why_it_cannot_store_a_credential(admin_client, settings):
    settings.FIELD_ENCRYPTION_KEY = []
    page = admin_client.post(ADD, admin_form()).content.decode()
    assert "FIELD_ENCRYPTION_KEY is not set" in page
    assert not InstagramBusinessAccount.objects.exists()


@pytest.mark.parametrize("credential", ["access_token", "app_secret", "verify_token"])
def test_a_credential_over_4096_characters_is_refused_in_both(api, admin_client, credential):
    response = api_create(api, **{credential: "x" * (CREDENTIAL_MAX_LENGTH + 1)})
    assert response.status_code == 400
    assert "4096" in str(response.json()[credential])

    response = admin_client.post(ADD, admin_form(**{credential: "x" * 1_000_000}))
    assert response.status_code == 200
    assert credential in response.context["adminform"].form.errors
    assert not InstagramBusinessAccount.objects.exists()


def test_a_credential_of_4096_characters_is_taken(api):
    long_token = "EAAG" + "x" * (CREDENTIAL_MAX_LENGTH - 4)
    assert api_create(api, access_token=long_token).status_code == 201
    assert InstagramBusinessAccount.objects.get().access_token == long_token
