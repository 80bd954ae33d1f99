"""/api/accounts/: create, read, update and deactivate accounts; credentials are write-only."""

import pytest
from rest_framework.test import APIClient

from accounts.models import InstagramBusinessAccount

pytestmark = pytest.mark.django_db

TOKEN = "EAAGm0PX4ZCpsBAKZAp1-secret-token-WXYZ"


def create(client, **changes):
    """POST an account; a change of None leaves that field out."""
    data = {
        "instagram_id": "17841400000000001",
        "name": "Shop",
        "api": "facebook_login",
        "access_token": TOKEN,
        "app_secret": "app-s3cret",
        "verify_token": "v3rify",
    }
    data.update(changes)
    data = {name: value for name, value in data.items() if value is not None}
    return client.post("/api/accounts/", data, format="json")


def test_create_stores_credentials_encrypted_and_never_returns_them(api):
    response = create(api)
    assert response.status_code == 201
    body = response.content.decode()
    for secret in [TOKEN, "app-s3cret", "v3rify"]:
        assert secret not in body
    assert response.json()["access_token_hint"] == "…WXYZ"
    account = InstagramBusinessAccount.objects.get()
    assert (account.access_token, account.app_secret) == (TOKEN, "app-s3cret")
    listing = api.get("/api/accounts/").content.decode()
    assert TOKEN not in listing and "app-s3cret" not in listing


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"access_token": None}, "access_token"),
        ({"access_token": ""}, "access_token"),
        ({"instagram_id": ""}, "instagram_id"),
        ({"api": "carrier_pigeon"}, "api"),
        ({"max_sends_per_second": -1}, "max_sends_per_second"),
    ],
)
def test_invalid_input_is_a_400_with_field_errors(api, changes, field):
    response = create(api, **changes)
    assert response.status_code == 400
    assert field in response.json()
    assert not InstagramBusinessAccount.objects.exists()


def test_duplicate_instagram_id_is_a_400(api):
    create(api)
    response = create(api)
    assert response.status_code == 400
    assert "instagram_id" in response.json()


def test_update_replaces_the_token_only_when_given(api):
    account_id = create(api).json()["id"]
    InstagramBusinessAccount.objects.get().mark_token_invalid("expired")
    assert (
        api.patch(f"/api/accounts/{account_id}/", {"name": "Renamed"}, format="json").status_code
        == 200
    )
    account = InstagramBusinessAccount.objects.get()
    assert (account.name, account.access_token, account.token_is_invalid) == (
        "Renamed",
        TOKEN,
        True,
    )
    api.patch(f"/api/accounts/{account_id}/", {"access_token": "EAAG-new-0001"}, format="json")
    account.refresh_from_db()
    assert (account.access_token, account.token_is_invalid) == ("EAAG-new-0001", False)


def test_deactivate_instead_of_delete(api):
    account_id = create(api).json()["id"]
    assert api.delete(f"/api/accounts/{account_id}/").status_code == 405
    response = api.post(f"/api/accounts/{account_id}/deactivate/")
    assert response.status_code == 200
    assert response.json()["is_active"] is False
    assert InstagramBusinessAccount.objects.get().is_active is False


def test_is_active_is_set_on_create_and_update_as_in_the_admin(api):
    response = create(api, is_active=False)
    assert response.json()["is_active"] is False
    assert InstagramBusinessAccount.objects.get().is_active is False
    api.patch(f"/api/accounts/{response.json()['id']}/", {"is_active": True}, format="json")
    assert InstagramBusinessAccount.objects.get().is_active is True


def test_permissions_apply_per_action(db):
    from django.contrib.auth.models import Permission, User

    clerk = User.objects.create_user("clerk", password="pw-clerk-123", is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_instagrambusinessaccount"))
    client = APIClient()
    client.force_authenticate(clerk)
    assert client.get("/api/accounts/").status_code == 200
    assert create(client).status_code == 403
    account = InstagramBusinessAccount.objects.create(instagram_id="1", name="x")
    assert client.post(f"/api/accounts/{account.pk}/deactivate/").status_code == 403
    assert (
        client.patch(f"/api/accounts/{account.pk}/", {"name": "y"}, format="json").status_code
        == 403
    )
