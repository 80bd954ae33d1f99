"""Endpoints in the admin, per account: staff limited to shop A neither list, open, change nor
create shop B's endpoints."""

import pytest
from django.contrib.auth.models import Permission

from inbox.tests.conftest import staff
from outgoing_webhooks.models import WebhookEndpoint
from outgoing_webhooks.tests.conftest import HOOK_URL

pytestmark = pytest.mark.django_db

PAGES = "/admin/outgoing_webhooks/webhookendpoint/"


def test_limited_staff_see_only_their_accounts_endpoints(client, shops):
    user = staff("limited", shops[0])
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="outgoing_webhooks")
    )
    client.force_login(user)
    mine = WebhookEndpoint.objects.create(
        account=shops[0], url="https://hooks.example.com/ours", events=["contact.created"]
    )
    theirs = WebhookEndpoint.objects.create(
        account=shops[1], url="https://hooks.example.com/theirs", events=["contact.created"]
    )

    listed = client.get(PAGES).content.decode()
    assert "/ours" in listed and "/theirs" not in listed
    assert client.get(f"{PAGES}{theirs.pk}/change/").status_code == 302  # "not found"
    assert client.get(f"{PAGES}{mine.pk}/change/").status_code == 200
    changed = client.post(
        f"{PAGES}{theirs.pk}/change/",
        {"account": shops[0].pk, "url": HOOK_URL, "events": ["contact.created"]},
    )
    assert changed.status_code == 302
    theirs.refresh_from_db()
    assert theirs.account == shops[1] and theirs.url.endswith("/theirs")
    assert client.post(f"{PAGES}{theirs.pk}/delete/", {"post": "yes"}).status_code == 302
    assert WebhookEndpoint.objects.filter(pk=theirs.pk).exists()

    refused = client.post(
        f"{PAGES}add/", {"account": shops[1].pk, "url": HOOK_URL, "events": ["contact.created"]}
    )
    assert refused.status_code == 200 and b"Select a valid choice" in refused.content
    assert WebhookEndpoint.objects.count() == 2
