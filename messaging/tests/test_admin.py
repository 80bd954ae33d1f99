"""Staff can look at deliveries, conversations and messages in the admin, and not edit them."""

import pytest

from messaging.models import Conversation, Message, WebhookDelivery
from messaging.tests.conftest import load_payload

pytestmark = pytest.mark.django_db


@pytest.fixture
def stored_conversation(deliver):
    deliver(load_payload("messages__emoji"))
    deliver(b"not json")
    return Conversation.objects.get()


@pytest.mark.parametrize(
    "url",
    [
        "/admin/messaging/webhookdelivery/",
        "/admin/messaging/conversation/",
        "/admin/messaging/message/",
        "/admin/messaging/message/?status__exact=queued",
    ],
)
def test_admin_lists_load(admin_client, stored_conversation, url):
    assert admin_client.get(url).status_code == 200


def test_conversation_page_shows_the_thread(admin_client, stored_conversation):
    page = admin_client.get(f"/admin/messaging/conversation/{stored_conversation.pk}/change/")
    assert page.status_code == 200
    assert "Ça marche 👍🏽" in page.content.decode()
    assert "Thanks for your message!" in page.content.decode()


def test_raw_delivery_page_shows_the_body_even_when_it_is_not_json(
    admin_client, stored_conversation
):
    rejected = WebhookDelivery.objects.get(state=WebhookDelivery.State.REJECTED)
    page = admin_client.get(f"/admin/messaging/webhookdelivery/{rejected.pk}/change/")
    assert page.status_code == 200
    assert "not json" in page.content.decode()
    assert "body is not JSON" in page.content.decode()


def test_stored_messages_cannot_be_edited_or_added(admin_client, stored_conversation):
    message = Message.objects.first()
    response = admin_client.post(f"/admin/messaging/message/{message.pk}/change/", {"text": "x"})
    assert response.status_code == 403
    assert admin_client.get("/admin/messaging/message/add/").status_code == 403
    message.refresh_from_db()
    assert message.text != "x"


def test_a_conversation_page_names_its_account_and_shows_times_one_way(
    admin_client, stored_conversation
):
    page = admin_client.get(f"/admin/messaging/conversation/{stored_conversation.pk}/change/")
    html = page.content.decode()
    # Served by the environment's settings, not a stored account: said so, not "-".
    assert "the environment&#x27;s account" in html
    assert "a.m." not in html and "p.m." not in html  # 24-hour times, as in the thread
    created = stored_conversation.created_at.strftime("%Y-%m-%d %H:%M")
    assert created in html
