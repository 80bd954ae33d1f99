"""Meta retries overlap: the same message delivered concurrently is stored and answered once."""

import threading
from unittest import mock

import pytest
from django.db import connection
from django.test import Client

from devtools.simulation import signed_headers
from messaging import receiving
from messaging.models import Conversation, Message, WebhookDelivery
from messaging.tests.conftest import WEBHOOK_URL, encode, load_payload, with_mid

pytestmark = pytest.mark.django_db(transaction=True)


def at_once(function, arguments) -> list:
    """Call `function` with each argument, each in its own thread, all released together."""
    barrier = threading.Barrier(len(arguments))
    results = [None] * len(arguments)

    def call(index, argument):
        try:
            barrier.wait()
            results[index] = function(argument)
        finally:
            connection.close()

    threads = [threading.Thread(target=call, args=(i, a)) for i, a in enumerate(arguments)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def post(body: bytes) -> int:
    headers = signed_headers(body, "test-app-secret")
    response = Client().post(
        WEBHOOK_URL, data=body, content_type=headers.pop("Content-Type"), headers=headers
    )
    return response.status_code


def deliver_concurrently(bodies) -> list[int]:
    """Concurrent webhook requests, then their deliveries handled by concurrent workers."""
    statuses = at_once(post, bodies)
    at_once(
        receiving.take_delivery,
        list(WebhookDelivery.objects.values_list("pk", flat=True)),
    )
    return statuses


def test_concurrent_duplicate_deliveries_store_one_message_and_one_reply():
    body = encode(load_payload("messages__text"))
    statuses = deliver_concurrently([body] * 8)
    assert statuses == [200] * 8
    assert WebhookDelivery.objects.count() == 8
    assert Message.objects.filter(direction="in").count() == 1
    assert Message.objects.filter(author="bot").count() == 1


def test_first_messages_racing_in_create_one_conversation_and_one_fallback():
    payload = load_payload("messages__text")
    bodies = [encode(with_mid(payload, f"mid-{n}")) for n in range(8)]
    assert deliver_concurrently(bodies) == [200] * 8
    assert Conversation.objects.count() == 1
    assert Message.objects.filter(direction="in").count() == 8
    # Eight lines at once, one "we'll get back to you": the fallback's cooldown holds in a race.
    assert Message.objects.filter(author="bot").count() == 1


def take_batches_until_none_wait(_) -> None:
    """A worker's passes, in batches of three so that workers racing take turns."""
    while receiving.take_waiting_deliveries(3):
        pass


def test_workers_taking_batches_at_once_store_and_answer_each_message_once():
    payload = load_payload("messages__text")
    others = []
    for n in range(6):
        other = with_mid(payload, f"other-{n}", "hello")
        other["entry"][0]["messaging"][0]["sender"]["id"] = f"99900000000000{n:02d}"
        others.append(encode(other))
    # One customer's message delivered five times, five more lines of theirs, and six other
    # customers' first messages, interleaved.
    bodies = [encode(payload)] * 5 + [encode(with_mid(payload, f"mid-{n}")) for n in range(5)]
    bodies = [body for pair in zip(bodies, others + others[:4], strict=True) for body in pair]
    assert at_once(post, bodies) == [200] * 20
    with mock.patch.object(receiving, "send_replies"):  # what is stored is the point here
        at_once(take_batches_until_none_wait, range(4))

    assert not WebhookDelivery.objects.exclude(state="processed").exists()
    assert Conversation.objects.count() == 7
    assert Message.objects.filter(direction="in").count() == 6 + 6
    # One fallback for the customer who wrote six lines (its cooldown), one for each other.
    assert Message.objects.filter(author="bot").count() == 7
    assert Message.objects.filter(author="bot", in_reply_to__isnull=True).count() == 0
