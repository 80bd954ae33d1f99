"""A customer's own data: exported as JSON, then erased (gone from the database, raw
deliveries included), by staff with the permission, from the inbox's page and the API."""

import json

import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from comments.models import Comment
from inbox.models import Note
from inbox.tests.conftest import SHOP_A_ID, dm, make_account, staff
from messaging.models import Conversation, Message, WebhookDelivery

pytestmark = pytest.mark.django_db

CUSTOMER, OTHER = "17000000000000101", "17000000000000202"


@pytest.fixture
def shop(db):
    return make_account(SHOP_A_ID, "Alpha")


@pytest.fixture
def conversations(shop, deliver, settings):
    settings.INSTAGRAM_PAGE_ACCESS_TOKEN = ""
    deliver(dm(SHOP_A_ID, CUSTOMER, "mid.customer.1", "my address is 1 Main St"))
    deliver(dm(SHOP_A_ID, OTHER, "mid.other.1", "hello"))
    mine = Conversation.objects.get(customer_id=CUSTOMER)
    mine.customer_username = "jane.doe"
    mine.save()
    Note.objects.create(conversation=mine, text="VIP, prefers mornings")
    Comment.objects.create(
        comment_id="c-jane",
        instagram_account_id=SHOP_A_ID,
        account=shop,
        author_id=CUSTOMER,
        author_username="jane.doe",
        text="love it",
        commented_at="2026-01-01T00:00:00Z",
    )
    return mine


def eraser(shop):
    user = staff("privacy-officer", shop)
    user.user_permissions.add(Permission.objects.get(codename="erase_customer"))
    return user


def test_a_customer_is_exported_then_erased_from_the_inbox(client, shop, conversations):
    client.force_login(eraser(shop))
    page = client.get(f"/privacy/customers/{conversations.pk}/")
    assert page.status_code == 200 and b"@jane.doe" in page.content

    exported = client.get(f"/privacy/customers/{conversations.pk}/export")

    assert exported.status_code == 200
    assert "attachment" in exported["Content-Disposition"]
    data = json.loads(exported.content)
    assert data["username"] == "jane.doe" and data["customer_id"] == CUSTOMER
    assert data["conversations"][0]["messages"][0]["text"] == "my address is 1 Main St"
    assert data["conversations"][0]["notes"][0]["text"] == "VIP, prefers mornings"
    assert data["comments"][0]["text"] == "love it"

    refused = client.post(f"/privacy/customers/{conversations.pk}/erase")
    assert refused.status_code == 400 and Conversation.objects.filter(customer_id=CUSTOMER)

    erased = client.post(f"/privacy/customers/{conversations.pk}/erase", {"confirm": "erase"})

    assert erased.status_code == 200
    assert not Conversation.objects.filter(customer_id=CUSTOMER).exists()
    assert not Message.objects.filter(text__contains="Main St").exists()
    assert not Note.objects.exists()
    assert not Comment.objects.filter(author_id=CUSTOMER).exists()
    assert not any(CUSTOMER.encode() in bytes(d.body) for d in WebhookDelivery.objects.all())
    # The other customer's conversation and delivery stay.
    assert Conversation.objects.filter(customer_id=OTHER).exists()
    assert any(OTHER.encode() in bytes(d.body) for d in WebhookDelivery.objects.all())


def test_the_api_exports_and_erases_a_customer(shop, conversations):
    api = APIClient()
    api.force_authenticate(eraser(shop))
    exported = api.get(f"/api/customers/{conversations.pk}/export")
    assert exported.status_code == 200 and exported.json()["username"] == "jane.doe"
    assert api.post(f"/api/customers/{conversations.pk}/erase", {}).status_code == 400
    erased = api.post(
        f"/api/customers/{conversations.pk}/erase", {"confirm": "erase"}, format="json"
    )
    assert erased.status_code == 200
    assert erased.json()["erased"]["messages"] == 2  # theirs and the bot's answer
    assert not Conversation.objects.filter(customer_id=CUSTOMER).exists()


def test_staff_without_the_permission_or_the_account_cannot(client, shop, conversations):
    client.force_login(staff("clerk", shop))  # the account, not the permission
    assert client.get(f"/privacy/customers/{conversations.pk}/export").status_code == 403
    assert (
        client.post(
            f"/privacy/customers/{conversations.pk}/erase", {"confirm": "erase"}
        ).status_code
        == 403
    )
    other_shop = make_account("17841400000000002", "Bravo")
    outsider = eraser(other_shop)
    outsider.account_grants.all().delete()
    client.force_login(outsider)
    assert client.get(f"/privacy/customers/{conversations.pk}/export").status_code == 404
    assert Conversation.objects.filter(customer_id=CUSTOMER).exists()


def test_the_export_holds_the_contact_and_erasing_removes_what_webhooks_were_told(
    shop, conversations
):
    """Tags, fields and notes staff recorded are the customer's data too; so are the copies of
    the business events sent about them to the business's own endpoints."""
    from contacts.models import Contact
    from outgoing_webhooks.models import EndpointDelivery, WebhookEndpoint
    from privacy.erasure import customer_export, erase_customer

    Contact.objects.filter(pk=conversations.pk).update(notes="allergic to wool")
    endpoint = WebhookEndpoint.objects.create(
        account=shop, url="https://hooks.example.com/in", events=["tag.added"]
    )
    other = Conversation.objects.get(customer_id=OTHER)
    for who in (conversations, other):
        EndpointDelivery.objects.create(
            endpoint=endpoint, event="tag.added", payload={**who.as_event(), "tag": "vip"}
        )

    exported = customer_export(conversations)
    assert [c["notes"] for c in exported["contacts"]] == ["allergic to wool"]

    erased = erase_customer(conversations)
    assert erased["webhook deliveries"] == 1
    assert [d.payload["customer_id"] for d in EndpointDelivery.objects.all()] == [OTHER]
    assert not Contact.objects.filter(pk=conversations.pk).exists()
