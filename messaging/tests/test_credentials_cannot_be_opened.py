"""A wrong or missing FIELD_ENCRYPTION_KEY: no 500 anywhere, a 503 where a credential is needed,
/healthz names the problem, and what waited for the credentials goes through once it is fixed."""

from datetime import timedelta
from unittest import mock

import pytest
from cryptography.fernet import Fernet
from django.db import OperationalError
from django.utils import timezone

from accounts.models import InstagramBusinessAccount
from devtools.simulation import signed_headers
from messaging.credentials_wait import queue_work_waiting_for_credentials
from messaging.models import Conversation, Message, WebhookDelivery, WorkerHeartbeat
from messaging.tests.conftest import (
    ACCOUNT_ID,
    answer_send,
    encode,
    handle_accepted_deliveries,
    load_payload,
    sends,
)

pytestmark = pytest.mark.django_db

ACCOUNT_URL = f"/webhooks/instagram/{ACCOUNT_ID}"
TOKEN = "EAAGm0PX4ZCpsBAKZAp1-secret-token-WXYZ"
OWN_SECRET = "own-app-s3cret"


@pytest.fixture
def key_lost(settings):
    """Store the account with one key, then run with another; calling the fixture's value
    puts the right key back (the operator's fix)."""
    right_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEY = [right_key]

    def store_account(**credentials):
        account = InstagramBusinessAccount(instagram_id=ACCOUNT_ID, name="Shop", **credentials)
        account.set_access_token(TOKEN)
        account.save()
        lose()
        return account

    def lose():
        settings.FIELD_ENCRYPTION_KEY = [Fernet.generate_key().decode()]

    def fix():
        settings.FIELD_ENCRYPTION_KEY = [right_key]

    store_account.lose, store_account.fix = lose, fix
    return store_account


def post_signed(client, payload, secret, path=ACCOUNT_URL):
    body = encode(payload)
    headers = signed_headers(body, secret)
    return client.post(path, data=body, content_type=headers.pop("Content-Type"), headers=headers)


def test_the_account_webhook_answers_503_when_its_secret_cannot_be_opened(client, key_lost):
    key_lost(app_secret=OWN_SECRET, verify_token="v3rify")
    response = post_signed(client, load_payload("messages__text"), OWN_SECRET)
    assert response.status_code == 503
    assert b"FIELD_ENCRYPTION_KEY" in response.content
    assert WebhookDelivery.objects.count() == 0  # Meta delivers it again

    handshake = client.get(
        ACCOUNT_URL, {"hub.mode": "subscribe", "hub.verify_token": "x", "hub.challenge": "1"}
    )
    assert handshake.status_code == 503

    key_lost.fix()
    assert post_signed(client, load_payload("messages__text"), OWN_SECRET).status_code == 200


def test_the_account_webhook_needs_only_the_credential_it_checks(client, key_lost):
    # No secret of its own: the global one signs, and the unreadable token is not needed here.
    key_lost()
    response = post_signed(client, load_payload("messages__text"), "test-app-secret")
    assert response.status_code == 200


def test_the_account_webhook_answers_503_when_the_database_is_down(client):
    down = OperationalError("connection refused")
    with mock.patch.object(InstagramBusinessAccount.objects, "filter", side_effect=down):
        response = post_signed(client, load_payload("messages__text"), "test-app-secret")
    assert response.status_code == 503
    assert WebhookDelivery.objects.count() == 0


@pytest.mark.parametrize("signed_with", ["the global secret", "its own secret"])
def test_a_delivery_waits_for_credentials_and_is_answered_once_the_key_is_fixed(
    deliver, graph_api, run_worker, key_lost, signed_with
):
    key_lost(app_secret=OWN_SECRET)
    if signed_with == "its own secret":
        # The web process had the key (it checked the signature); the worker has not.
        key_lost.fix()
        response = deliver(
            load_payload("messages__text"), secret=OWN_SECRET, path=ACCOUNT_URL, handle=False
        )
        key_lost.lose()
        handle_accepted_deliveries()
    else:
        response = deliver(load_payload("messages__text"))

    assert response.status_code == 200
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == WebhookDelivery.State.WAITING_FOR_CREDENTIALS
    assert "FIELD_ENCRYPTION_KEY" in delivery.error
    assert not Message.objects.exists()
    run_worker()  # the sweep leaves it while the credentials cannot be opened
    assert WebhookDelivery.objects.get().state == WebhookDelivery.State.WAITING_FOR_CREDENTIALS

    key_lost.fix()
    answer_send(graph_api, message_id="aWdfZAG1sent-after-fix")
    run_worker()  # the sweep queues it again, the worker handles it and sends the reply

    delivery.refresh_from_db()
    if signed_with == "the global secret":
        # Not signed with the account's own secret: its events are skipped, as always.
        assert delivery.state == WebhookDelivery.State.PROCESSED
        assert "not signed with account" in delivery.error
        return
    assert (delivery.state, delivery.error) == (WebhookDelivery.State.PROCESSED, "")
    assert Message.objects.filter(direction="in").count() == 1
    assert Message.objects.get(author="bot").status == "sent"
    assert len(sends(graph_api)) == 1


def test_handling_a_waiting_delivery_again_stores_nothing_twice(deliver, key_lost, settings):
    key_lost(app_secret=OWN_SECRET)
    other_account = load_payload("messages__text")
    other_account["entry"][0]["id"] = "17841400000000002"  # the environment's account
    other_account["entry"].insert(0, load_payload("messages__text")["entry"][0])
    deliver(other_account)
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == WebhookDelivery.State.WAITING_FOR_CREDENTIALS
    assert Message.objects.filter(direction="in").count() == 1  # the other account's

    key_lost.fix()
    assert queue_work_waiting_for_credentials() == 1
    handle_accepted_deliveries()
    delivery.refresh_from_db()
    assert delivery.state == WebhookDelivery.State.PROCESSED
    assert "not signed with account" in delivery.error
    assert Message.objects.filter(direction="in").count() == 1


def test_a_reply_waits_uncounted_for_a_token_that_cannot_be_opened_and_goes_once_it_opens(
    deliver, graph_api, run_worker, key_lost
):
    key_lost()  # the account has no secret of its own: only its token is unreadable
    deliver(load_payload("messages__text"))
    run_worker()
    reply = Message.objects.get(author="bot")
    assert (reply.status, reply.attempts) == ("queued", 0)
    assert "waiting for credentials" in reply.last_error
    assert not sends(graph_api)

    key_lost.fix()
    answer_send(graph_api)
    # At once: not after its own timer (REPLY_STALLED_AFTER), as every kind of work that
    # waited for credentials is queued once every stored credential opens.
    run_worker()
    reply.refresh_from_db()
    assert (reply.status, reply.attempts) == ("sent", 1)
    assert graph_api.calls[-1].request.headers["Authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize(
    "url",
    [
        "/api/accounts/",
        "/api/conversations/",
        "/api/messages/",
        "/api/rules/",
        "/admin/accounts/instagrambusinessaccount/",
        "/admin/messaging/conversation/",
        "/admin/rules/responserule/",
    ],
)
def test_pages_that_need_no_credential_work_without_the_key(admin_client, deliver, key_lost, url):
    key_lost()
    deliver(load_payload("messages__text"))
    assert Conversation.objects.get().account is not None
    assert admin_client.get(url).status_code == 200


def test_the_conversation_page_works_without_the_key(admin_client, deliver, key_lost):
    key_lost()
    deliver(load_payload("messages__text"))
    conversation = Conversation.objects.get()
    url = f"/admin/messaging/conversation/{conversation.pk}/change/"
    assert admin_client.get(url).status_code == 200


def test_healthz_names_credentials_that_cannot_be_opened_and_no_secret(client, key_lost):
    WorkerHeartbeat.beat("host:1")
    account = key_lost(app_secret=OWN_SECRET)
    response = client.get("/healthz")
    assert response.status_code == 503
    (problem,) = response.json()["problems"]
    assert "FIELD_ENCRYPTION_KEY" in problem
    assert f"account {ACCOUNT_ID}: access_token, app_secret" in problem
    body = response.content.decode()
    assert TOKEN not in body and OWN_SECRET not in body and "gAAAAA" not in body

    key_lost.fix()
    assert client.get("/healthz").status_code == 200
    assert account.pk


def test_healthz_names_a_missing_key_too(client, key_lost, settings):
    WorkerHeartbeat.beat("host:1")
    key_lost()
    settings.FIELD_ENCRYPTION_KEY = []
    response = client.get("/healthz")
    assert response.status_code == 503
    assert f"account {ACCOUNT_ID}: access_token" in response.json()["problems"][0]


def test_deliveries_waiting_for_an_account_still_broken_are_tried_again_now_and_then(
    deliver, key_lost, settings
):
    key_lost(app_secret=OWN_SECRET)
    deliver(load_payload("messages__text"))
    assert queue_work_waiting_for_credentials() == 0  # just found waiting
    later = timezone.now() + timedelta(seconds=settings.REPLY_STALLED_AFTER + 1)
    assert queue_work_waiting_for_credentials(now=later) == 1
    handle_accepted_deliveries()
    assert WebhookDelivery.objects.get().state == WebhookDelivery.State.WAITING_FOR_CREDENTIALS
