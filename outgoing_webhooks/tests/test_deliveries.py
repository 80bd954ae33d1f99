"""Business events to staff's endpoints through the one outbox: signed, retried with the
outbox's backoff (4xx but 408/429 is for good), answers kept, disabled after a day of
failures, never to a private address."""

import hashlib
import hmac
import json
import socket
import threading
from datetime import timedelta
from unittest import mock

import pytest
import requests
import responses
from django.utils import timezone

from contacts import editing
from contacts.models import Contact
from messaging import outbox
from messaging.models import Conversation, Message, OutboxStatus
from messaging.replies import queue_outgoing
from messaging.tests.conftest import send_api_url
from outgoing_webhooks.models import EndpointDelivery
from outgoing_webhooks.tests.conftest import HOOK_URL

pytestmark = pytest.mark.django_db


@pytest.fixture
def contact(shops):
    conversation = Conversation.objects.create(
        instagram_account_id=shops[0].instagram_id,
        account=shops[0],
        customer_id="1001",
        customer_username="ana",
    )
    return Contact.objects.create(conversation=conversation)


def tag(contact, *names):
    editing.apply_change(contact, editing.Change(tags=list(names)))


def deliver_due():
    # The sends that call no Meta finish in their own threads: settled, as a one-pass
    # worker does before it ends.
    while outbox.send_due() or outbox.settle():
        pass


def make_due():
    EndpointDelivery.objects.filter(status=OutboxStatus.QUEUED).update(due_at=timezone.now())


def verify(secret: str, request) -> dict:
    """What a receiver does (README): check the signature over "<timestamp>.<body>"."""
    signed = request.headers["X-Instabot-Timestamp"].encode() + b"." + request.body
    expected = "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, request.headers["X-Instabot-Signature"])
    return json.loads(request.body)


def test_a_tag_added_is_delivered_signed(endpoint, contact, receiver):
    receiver.add(responses.POST, HOOK_URL, json={"ok": True})
    tag(contact, "vip")
    contact.conversation.resolve()
    tag(contact, "vip")  # no change: no event

    deliver_due()

    # Side by side (the sends that call no Meta have threads of their own): in any order.
    calls = sorted(receiver.calls, key=lambda call: call.request.headers["X-Instabot-Event"])
    bodies = [verify(endpoint.secret, call.request) for call in calls]
    assert [body["event"] for body in bodies] == ["contact.tag_added", "conversation.resolved"]
    assert bodies[0]["data"] == {
        "conversation": contact.pk,
        "customer_id": "1001",
        "username": "ana",
        "tag": "vip",
    }
    assert bodies[0]["account"] == endpoint.account.instagram_id
    assert calls[0].request.headers["X-Instabot-Event"] == "contact.tag_added"
    delivered = EndpointDelivery.objects.filter(status=OutboxStatus.SENT)
    assert delivered.count() == 2
    assert delivered.first().answer_status == 200


def test_events_it_did_not_ask_for_and_other_accounts_are_not_sent(
    endpoint, contact, shops, receiver
):
    contact.conversation.await_person(timezone.now())  # not among its events
    other = Conversation.objects.create(
        instagram_account_id=shops[1].instagram_id, account=shops[1], customer_id="2002"
    )
    other.resolve()
    assert not EndpointDelivery.objects.exists()


def test_an_endpoint_that_fails_then_recovers(endpoint, contact, receiver):
    receiver.add(responses.POST, HOOK_URL, status=503, body="down for maintenance")
    receiver.add(responses.POST, HOOK_URL, body=requests.ConnectionError("refused"))
    receiver.add(responses.POST, HOOK_URL, status=429)
    receiver.add(responses.POST, HOOK_URL, status=204)
    tag(contact, "vip")

    for _ in range(4):
        deliver_due()
        make_due()

    delivery = EndpointDelivery.objects.get()
    assert delivery.status == OutboxStatus.SENT
    assert delivery.attempts == 4
    assert delivery.answer_status == 204
    endpoint.refresh_from_db()
    assert endpoint.is_active and endpoint.failing_since is None
    assert endpoint.last_success_at is not None


def test_a_4xx_is_refused_for_good_and_its_answer_kept(endpoint, contact, receiver):
    receiver.add(responses.POST, HOOK_URL, status=410, body="gone" * 1_000)
    tag(contact, "vip")

    deliver_due()

    delivery = EndpointDelivery.objects.get()
    assert delivery.status == OutboxStatus.FAILED
    assert delivery.last_error == "the endpoint answered 410"
    assert delivery.answer_status == 410 and len(delivery.answer_body) == 1_000


def test_disabled_after_a_day_of_failures_and_staff_see_why(endpoint, contact, receiver):
    receiver.add(responses.POST, HOOK_URL, status=500)
    tag(contact, "vip")
    deliver_due()
    endpoint.refresh_from_db()
    assert endpoint.is_active and endpoint.failing_since is not None

    later = timezone.now() + timedelta(days=1, minutes=1)
    tag(contact, "vip", "paris")
    make_due()
    with mock.patch("django.utils.timezone.now", return_value=later):
        deliver_due()

    endpoint.refresh_from_db()
    assert not endpoint.is_active
    assert "every delivery failed since" in endpoint.disabled_reason
    assert "500" in endpoint.disabled_reason
    assert not EndpointDelivery.objects.filter(status=OutboxStatus.QUEUED).exists()
    tag(contact, "vip", "paris", "lyon")
    assert not EndpointDelivery.objects.filter(payload__tag="lyon").exists()


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/x",
        "https://10.1.2.3/x",
        "https://169.254.169.254/latest",
        "https://[::1]/x",
        "https://localhost/x",
        "https://rebinding.example.com/x",
        "https://metadata.example.com/x",
    ],
)
def test_a_delivery_never_goes_to_a_private_address(endpoint, contact, receiver, url):
    endpoint.url = url
    endpoint.save()
    tag(contact, "vip")

    deliver_due()

    assert len(receiver.calls) == 0
    delivery = EndpointDelivery.objects.get()
    assert delivery.status == OutboxStatus.FAILED
    assert "private, loopback or link-local" in delivery.last_error


def test_a_hanging_endpoint_never_delays_a_dm_in_the_same_pass(endpoint, contact, receiver):
    answered = threading.Event()

    def hang(request):
        answered.wait(30)  # until the test lets it answer (its timeout, in real life)
        return 200, {}, "ok"

    receiver.add_callback(responses.POST, HOOK_URL, callback=hang)
    receiver.add(responses.POST, send_api_url(), json={"recipient_id": "1001", "message_id": "m1"})
    tag(contact, "vip")  # a delivery to the endpoint, due now
    (reply,) = queue_outgoing(contact.conversation, "Hi Ana!", author=Message.Author.BOT)

    outbox.send_due()  # one pass's sends: returns while the endpoint still hangs

    reply.refresh_from_db()
    assert reply.status == Message.Status.SENT
    delivery = EndpointDelivery.objects.get()
    assert delivery.status == OutboxStatus.SENDING  # under way in its own thread
    assert outbox.send_due() == 0  # the next pass does not wait for it either

    answered.set()
    assert outbox.settle() == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.answer_status) == (OutboxStatus.SENT, 200)


def test_a_host_that_turns_private_when_connecting_is_refused_for_good(
    endpoint, contact, monkeypatch
):
    # The check (safe_urls.resolve, as the dns fixture answers) sees a public address; the
    # connection's own lookup gets a private one (DNS rebinding): refused, nothing sent.
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host != "hooks.example.com":
            return real(host, port, *args, **kwargs)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    tag(contact, "vip")

    deliver_due()

    delivery = EndpointDelivery.objects.get()
    assert delivery.status == OutboxStatus.FAILED
    assert "hooks.example.com resolved to a private" in delivery.last_error
    assert "when connecting (10.0.0.7)" in delivery.last_error
