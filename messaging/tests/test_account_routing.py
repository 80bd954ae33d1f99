"""Many accounts: each entry goes to its account, its secret, its token; nothing crosses over."""

import copy
import json
import re

import pytest
import responses
from django.test import Client

from accounts.models import InstagramBusinessAccount
from devtools.simulation import signed_headers
from messaging.models import Conversation, Message, WebhookDelivery
from messaging.tests.conftest import (
    answer_send,
    encode,
    handle_accepted_deliveries,
    load_payload,
    send_api_url,
    sends,
)

pytestmark = pytest.mark.django_db

SHOP, BAKERY, OTHER_APP = "17841400000000001", "17841400000000002", "17841400000000003"


@pytest.fixture
def accounts(settings):
    shop = InstagramBusinessAccount(instagram_id=SHOP, name="Shop", fallback_reply="Shop here")
    shop.set_access_token("EAAG-shop-token")
    shop.save()
    bakery = InstagramBusinessAccount(
        instagram_id=BAKERY, name="Bakery", api="instagram_login", fallback_reply="Bakery here"
    )
    bakery.set_access_token("IGQVJ-bakery-token")
    bakery.save()
    other = InstagramBusinessAccount(
        instagram_id=OTHER_APP,
        name="Other app",
        app_secret="other-app-secret",
        verify_token="other-verify",
        fallback_reply="Other app here",
    )
    other.set_access_token("EAAG-other-token")
    other.save()
    return shop, bakery, other


def delivery_for(*account_ids, customer="1234567890123456"):
    """One delivery with one text message per account, in one entry each."""
    template = load_payload("messages__text")
    entries = []
    for n, account_id in enumerate(account_ids):
        entry = copy.deepcopy(template["entry"][0])
        entry["id"] = account_id
        event = entry["messaging"][0]
        event["recipient"]["id"] = account_id
        event["sender"]["id"] = customer
        event["message"]["mid"] = f"mid-{account_id}-{customer}-{n}"
        entries.append(entry)
    return {"object": "instagram", "entry": entries}


def post(path, payload, secret):
    body = encode(payload)
    headers = signed_headers(body, secret)
    response = Client().post(
        path, data=body, content_type=headers.pop("Content-Type"), headers=headers
    )
    handle_accepted_deliveries()
    return response


def replies_by_account():
    return {
        m.conversation.account.name if m.conversation.account else None: m.text
        for m in Message.objects.filter(author="bot").select_related("conversation__account")
    }


def test_a_delivery_for_two_accounts_goes_to_each(accounts, deliver):
    assert deliver(delivery_for(SHOP, BAKERY)).status_code == 200
    assert {c.account.name for c in Conversation.objects.all()} == {"Shop", "Bakery"}
    assert replies_by_account() == {"Shop": "Shop here", "Bakery": "Bakery here"}


def test_replies_go_out_with_each_accounts_token_and_api_host(
    accounts, deliver, graph_api, run_worker, settings
):
    deliver(delivery_for(SHOP, BAKERY))
    answer_send(graph_api, message_id="m-shop")
    instagram_send = (
        f"{settings.INSTAGRAM_GRAPH_API_BASE_URL}/{settings.GRAPH_API_VERSION}/me/messages"
    )
    graph_api.add(
        responses.POST, instagram_send, json={"recipient_id": "1", "message_id": "m-bakery"}
    )
    run_worker()
    calls = {
        call.request.headers["Authorization"]: call.request.url
        for call in graph_api.calls
        if call.request.method == "POST"
    }
    assert calls == {
        "Bearer EAAG-shop-token": send_api_url(),
        "Bearer IGQVJ-bakery-token": instagram_send,
    }
    assert set(Message.objects.filter(author="bot").values_list("status", flat=True)) == {"sent"}


def test_an_account_of_another_app_is_verified_with_its_own_secret(accounts):
    url = f"/webhooks/instagram/{OTHER_APP}"
    assert post(url, delivery_for(OTHER_APP), "test-app-secret").status_code == 401
    assert (
        post("/webhooks/instagram", delivery_for(OTHER_APP), "other-app-secret").status_code == 401
    )
    assert post(url, delivery_for(OTHER_APP), "other-app-secret").status_code == 200
    assert replies_by_account() == {"Other app": "Other app here"}


def test_entries_never_cross_into_an_account_the_signature_does_not_cover(accounts):
    # Signed with the other app's secret, but carrying an entry for the shop (the global app).
    assert (
        post(
            f"/webhooks/instagram/{OTHER_APP}", delivery_for(OTHER_APP, SHOP), "other-app-secret"
        ).status_code
        == 200
    )
    assert replies_by_account() == {"Other app": "Other app here"}
    assert (
        "not signed with account 17841400000000001's app secret"
        in WebhookDelivery.objects.get().error
    )
    # And the reverse: the global secret cannot speak for the other app's account.
    post("/webhooks/instagram", delivery_for(SHOP, OTHER_APP, customer="42"), "test-app-secret")
    assert Conversation.objects.filter(account__instagram_id=OTHER_APP).count() == 1


@pytest.mark.parametrize(
    "path, token, status",
    [
        (f"/webhooks/instagram/{OTHER_APP}", "other-verify", 200),
        (f"/webhooks/instagram/{OTHER_APP}/", "other-verify", 200),
        (f"/webhooks/instagram/{OTHER_APP}", "test-verify-token", 403),
        (f"/webhooks/instagram/{SHOP}", "test-verify-token", 200),  # no own token: the global one
        ("/webhooks/instagram/99999", "test-verify-token", 200),  # unknown: the global one
        ("/webhooks/instagram", "other-verify", 403),
    ],
)
def test_the_handshake_uses_the_accounts_verify_token(accounts, client, path, token, status):
    response = client.get(
        path, {"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "42"}
    )
    assert response.status_code == status


def test_an_unknown_account_is_served_by_the_environment_credentials(
    deliver, graph_api, run_worker
):
    deliver(delivery_for("17841499999999999"))
    conversation = Conversation.objects.get()
    assert conversation.account is None
    answer_send(graph_api)
    run_worker()
    assert sends(graph_api)[0].request.headers["Authorization"] == "Bearer test-page-access-token"


def test_an_unknown_account_without_environment_credentials_is_kept_raw_only(
    deliver, settings, caplog
):
    settings.INSTAGRAM_PAGE_ACCESS_TOKEN = ""
    assert deliver(delivery_for("17841499999999999")).status_code == 200
    assert Message.objects.count() == 0
    assert "no environment credentials" in WebhookDelivery.objects.get().error
    assert "kept raw" in caplog.text


def test_an_inactive_account_gets_nothing_and_the_others_go_on(accounts, deliver):
    shop = accounts[0]
    shop.is_active = False
    shop.save()
    deliver(delivery_for(SHOP, BAKERY))
    assert replies_by_account() == {"Bakery": "Bakery here"}
    assert not Conversation.objects.filter(account=shop).exists()


def test_a_conversation_begun_on_environment_credentials_joins_its_account_once_stored(deliver):
    deliver(delivery_for(SHOP))
    assert Conversation.objects.get().account is None
    shop = InstagramBusinessAccount(instagram_id=SHOP, name="Shop")
    shop.set_access_token("EAAG-shop-token")
    shop.save()
    payload = delivery_for(SHOP)
    payload["entry"][0]["messaging"][0]["message"]["mid"] = "a-later-message"
    deliver(payload)
    assert Conversation.objects.get().account == shop


def test_a_rejected_token_stops_that_accounts_sending_only(
    accounts, deliver, graph_api, run_worker, settings, caplog
):
    shop = accounts[0]
    answer_send(graph_api, status=401, error={"message": "Session has expired", "code": 190})
    deliver(delivery_for(SHOP))
    run_worker()
    shop.refresh_from_db()
    assert shop.token_is_invalid
    assert "CREDENTIALS PROBLEM" in caplog.text
    assert "EAAG-shop-token" not in caplog.text

    # The shop's next reply fails at once, without asking Meta; the bakery's goes out.
    deliver(delivery_for(SHOP, BAKERY, customer="55"))
    instagram_send = (
        f"{settings.INSTAGRAM_GRAPH_API_BASE_URL}/{settings.GRAPH_API_VERSION}/me/messages"
    )
    graph_api.add(responses.POST, instagram_send, json={"recipient_id": "55", "message_id": "m-b"})
    run_worker()
    latest_shop = (
        Message.objects.filter(author="bot", conversation__account=shop).order_by("id").last()
    )
    assert latest_shop.status == "failed"
    assert "access token is invalid since" in latest_shop.last_error
    assert len(sends(graph_api)) == 1  # only the first, refused, call to the shop's host
    assert Message.objects.get(author="bot", conversation__account=accounts[1]).status == "sent"

    # A new token lets the shop send again.
    shop.set_access_token("EAAG-new-token")
    shop.save()
    assert not InstagramBusinessAccount.objects.get(pk=shop.pk).token_is_invalid


def for_account(payload: dict, account_id: str, mid: str) -> dict:
    """The payload for another account, naming `mid`."""
    body = json.dumps(payload).replace(SHOP, account_id)
    return json.loads(re.sub(r'"mid": "[^"]*"', f'"mid": "{mid}"', body))


@pytest.mark.parametrize(
    "event",
    [
        "message_edit__edit",
        "messages__deleted",
        "message_reactions__react",
        "messaging_seen__read",
        "messages__echo",
    ],
)
def test_an_event_for_one_account_never_changes_another_accounts_message(accounts, deliver, event):
    deliver(load_payload("messages__text"))
    shop_message = Message.objects.get(author="customer")
    before = Message.objects.filter(pk=shop_message.pk).values().get()

    response = deliver(for_account(load_payload(event), BAKERY, shop_message.mid))

    assert response.status_code == 200
    assert Message.objects.filter(pk=shop_message.pk).values().get() == before
    assert not Message.objects.filter(conversation__account__instagram_id=BAKERY).exists()
    assert not Conversation.objects.filter(account__instagram_id=BAKERY).exists()


def test_an_event_for_the_messages_own_account_still_changes_it(accounts, deliver):
    deliver(load_payload("messages__text"))
    edit = load_payload("message_edit__edit")
    edit["entry"][0]["messaging"][0]["message_edit"]["text"] = "edited"
    deliver(edit)
    assert Message.objects.get(author="customer").text == "edited"


def test_a_message_with_another_accounts_mid_is_logged_and_not_stored(accounts, deliver, caplog):
    deliver(load_payload("messages__text"))
    deliver(for_account(load_payload("messages__text"), BAKERY, "aWdfZAG1faW1zZAzpZAFYZD_text"))
    assert Message.objects.filter(author="customer").count() == 1
    assert "has the mid of another account's message" in caplog.text
