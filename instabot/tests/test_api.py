"""The REST API as a whole: staff only, Django permissions, token and session auth, the schema."""

import re

import pytest
from django.contrib.auth.models import Permission, User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

ENDPOINTS = ["/api/accounts/", "/api/conversations/", "/api/messages/", "/api/rules/"]


def user(*codenames, staff=True):
    user = User.objects.create_user(
        f"u{User.objects.count()}", password="pw-123-abc", is_staff=staff
    )
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return user


@pytest.mark.parametrize("url", ENDPOINTS)
def test_anonymous_requests_are_refused(url):
    assert APIClient().get(url).status_code == 401


@pytest.mark.parametrize("url", ENDPOINTS)
def test_non_staff_users_are_refused_even_with_permissions(url):
    client = APIClient()
    client.force_authenticate(
        user(
            "view_instagrambusinessaccount",
            "view_conversation",
            "view_message",
            "view_responserule",
            staff=False,
        )
    )
    assert client.get(url).status_code == 403


@pytest.mark.parametrize("url", ENDPOINTS)
def test_staff_need_the_view_permission_to_read(url):
    client = APIClient()
    client.force_authenticate(user())
    assert client.get(url).status_code == 403


def test_token_authentication():
    staff = user("view_responserule")
    token = Token.objects.create(user=staff)
    client = APIClient()
    assert client.get("/api/rules/", HTTP_AUTHORIZATION=f"Token {token.key}").status_code == 200
    assert client.get("/api/rules/", HTTP_AUTHORIZATION="Token wrong").status_code == 401


def test_session_authentication_needs_csrf_for_writes():
    staff = user("view_responserule", "add_responserule")
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(staff)
    assert client.get("/api/rules/").status_code == 200
    response = client.post("/api/rules/", {"keywords": "a", "response_text": "b"}, format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


def test_the_openapi_schema_and_its_docs_page(admin_client):
    schema = admin_client.get("/api/schema/")
    assert schema.status_code == 200
    body = schema.content.decode()
    for path in ["/api/accounts/", "/api/conversations/{id}/reply/", "/api/rules/"]:
        assert path in body
    docs = admin_client.get("/api/docs/")
    assert docs.status_code == 200
    assert "swagger-ui" in docs.content.decode()
    # Served from this service: every script and stylesheet is a local path (not "cdn" in
    # the page: its random CSRF token may hold those letters).
    assets = re.findall(r'(?:src|href)="([^"]+)"', docs.content.decode())
    assert assets and all(url.startswith("/") for url in assets), assets


def test_the_schema_is_staff_only(client):
    assert client.get("/api/schema/").status_code in (401, 403)


def test_the_docs_description_shows_the_token_header_as_code(admin_client):
    # The docs page renders the description as Markdown, HTML allowed: a bare "<key>" would be
    # taken for a tag and vanish. Seen rendered in messaging/tests/test_admin_layout_browser.py.
    schema = admin_client.get("/api/schema/", {"format": "json"}).json()
    assert "`Authorization: Token <key>`" in schema["info"]["description"]
