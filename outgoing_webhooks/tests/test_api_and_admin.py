"""Registering endpoints (API and admin): the secret shown once, last answers listed, the
URL refused (400, a form error) when not https or at a private address; hostile input."""

import json

import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from inbox.tests.conftest import staff
from outgoing_webhooks.models import EndpointDelivery, WebhookEndpoint
from outgoing_webhooks.tests.conftest import HOOK_URL

pytestmark = pytest.mark.django_db


@pytest.fixture
def user(shops):
    user = staff("limited", shops[0])
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="outgoing_webhooks")
    )
    return user


@pytest.fixture
def limited(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def create(client, account, **changes):
    body = {"account": account.pk, "url": HOOK_URL, "events": ["contact.created"], **changes}
    return client.post("/api/webhooks/", json.dumps(body), content_type="application/json")


def test_the_secret_is_shown_once(limited, shops):
    answer = create(limited, shops[0])
    assert answer.status_code == 201, answer.json()
    secret = answer.json()["secret"]
    assert secret.startswith("whsec_") and WebhookEndpoint.objects.get().secret == secret
    shown = limited.get(f"/api/webhooks/{answer.json()['id']}/").json()
    assert "secret" not in shown
    assert shown["last_answers"] == []


def test_staff_turn_a_disabled_endpoint_on_again(limited, endpoint):
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        is_active=False, disabled_reason="Disabled at …"
    )
    EndpointDelivery.objects.create(endpoint=endpoint, event="contact.created", payload={})
    shown = limited.get(f"/api/webhooks/{endpoint.pk}/").json()
    assert shown["disabled_reason"] == "Disabled at …"
    assert shown["last_answers"][0]["event"] == "contact.created"

    answer = limited.patch(f"/api/webhooks/{endpoint.pk}/", {"is_active": True}, format="json")
    assert answer.json()["is_active"] and answer.json()["disabled_reason"] == ""


def test_other_accounts_endpoints_are_not_found(limited, shops):
    theirs = WebhookEndpoint.objects.create(account=shops[1], url=HOOK_URL, events=[])
    assert limited.get(f"/api/webhooks/{theirs.pk}/").status_code == 404
    assert create(limited, shops[1]).status_code == 400


@pytest.mark.parametrize(
    "changes",
    [
        {"url": "https://127.0.0.1/hook"},
        {"url": "https://10.0.0.1/hook"},
        {"url": "https://192.168.1.20/hook"},
        {"url": "https://169.254.169.254/latest/meta-data"},
        {"url": "https://[::1]/hook"},
        {"url": "https://localhost/hook"},
        {"url": "https://rebinding.example.com/hook"},
        {"url": "https://nowhere.invalid/hook"},
        {"url": "ftp://hooks.example.com/x"},
        {"url": "https://user:pw@hooks.example.com/x"},
        {"url": "https://hooks.example.com/\ud800"},
        {"url": "https://hooks.example.com/" + "a" * 2_000_000},
        {"url": ["a"]},
        {"events": []},
        {"events": ["contact.deleted"]},
        {"events": "contact.created"},
        {"events": [{"deep": [[[[]]]]}]},
    ],
)
def test_hostile_input_is_a_400(limited, shops, changes):
    answer = create(limited, shops[0], **changes)
    assert answer.status_code == 400, answer.content[:300]
    assert not WebhookEndpoint.objects.exists()


def test_http_only_in_development(limited, shops, settings):
    settings.DEBUG = False
    settings.INSTALLED_APPS = [app for app in settings.INSTALLED_APPS if app != "devtools"]
    assert create(limited, shops[0], url="http://hooks.example.com/x").status_code == 400
    settings.DEBUG = True
    assert create(limited, shops[0], url="http://hooks.example.com/x").status_code == 201


def test_admin_shows_the_secret_once_and_refuses_a_private_address(client, user, shops):
    client.force_login(user)
    form = {"account": shops[0].pk, "url": "https://10.0.0.1/x", "events": ["contact.created"]}
    answer = client.post("/admin/outgoing_webhooks/webhookendpoint/add/", form)
    assert answer.status_code == 200 and "private, loopback" in answer.content.decode()

    form["url"] = HOOK_URL
    answer = client.post("/admin/outgoing_webhooks/webhookendpoint/add/", form, follow=True)
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret in answer.content.decode()
    page = client.get(f"/admin/outgoing_webhooks/webhookendpoint/{endpoint.pk}/change/")
    assert endpoint.secret not in page.content.decode()
    assert "None yet." in page.content.decode()
