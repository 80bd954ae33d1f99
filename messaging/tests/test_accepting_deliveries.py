"""The webhook only accepts: it stores the delivery, one insert, and answers. The stored row is
the workers' queue: a worker takes it, handles its events once, and the sweep brings back what
a killed worker left."""

from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from accounts import services
from devtools.simulation import signed_headers
from messaging import receiving, recovery
from messaging.models import Message, SendThrottle, WebhookDelivery, WorkerHeartbeat
from messaging.tests.conftest import (
    WEBHOOK_URL,
    answer_send,
    encode,
    load_payload,
    waiting_ids,
    with_mid,
)
from rules import matching

pytestmark = pytest.mark.django_db

# Handling one DM from a new customer and sending the reply: counted, so that a change which
# adds queries to every DM shows up in a test. This DM gets the fallback, which also marks the
# conversation as needing a person for the inbox (one UPDATE; a rule's answer does not).
QUERIES_PER_NEW_DM = 23


def test_the_webhook_stores_the_delivery_for_the_workers_without_handling_it(deliver):
    assert deliver(load_payload("messages__text"), handle=False).status_code == 200
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == WebhookDelivery.State.RECEIVED
    assert waiting_ids(10) == [delivery.pk]
    assert not DBTaskResult.objects.exists()  # the row is the work item: no task
    assert not Message.objects.exists()  # the worker's job


def test_workers_take_waiting_deliveries_first_come_first(deliver):
    for mid in ("aWdfZAG1first", "aWdfZAG1second", "aWdfZAG1third"):
        deliver(with_mid(load_payload("messages__text"), mid), handle=False)
    first, second, third = WebhookDelivery.objects.order_by("pk")
    WebhookDelivery.objects.filter(pk=first.pk).update(handling_since=second.handling_since)
    assert waiting_ids(2) == [first.pk, second.pk]
    assert WebhookDelivery.claim(first.pk, by="host:1:a")
    assert waiting_ids(10) == [second.pk, third.pk]  # a claimed one is taken


def test_a_delivery_claimed_by_one_worker_is_not_handled_by_another(deliver):
    deliver(load_payload("messages__text"), handle=False)
    delivery = WebhookDelivery.objects.get()
    assert WebhookDelivery.claim(delivery.pk, by="host:1:a")
    assert receiving.take_waiting_deliveries() == 0
    assert receiving.take_delivery(delivery.pk) is False
    assert not Message.objects.exists()


def test_the_worker_handles_an_accepted_delivery_and_sends_its_reply_at_once(
    deliver, run_worker, graph_api
):
    deliver(load_payload("messages__text"), handle=False)
    answer_send(graph_api)
    run_worker()
    assert WebhookDelivery.objects.get().state == WebhookDelivery.State.PROCESSED
    assert Message.objects.get(direction="in").text
    assert Message.objects.get(author="bot").status == Message.Status.SENT
    # Sent by the worker that handled the delivery, once its transaction committed.
    assert not DBTaskResult.objects.exists()


def test_a_reply_the_worker_could_not_send_at_once_is_left_to_the_senders_poll(
    deliver, run_worker, graph_api
):
    deliver(load_payload("messages__text"), handle=False)
    answer_send(graph_api, status=503, error={"message": "Try again", "code": 2})
    run_worker()
    reply = Message.objects.get(author="bot")
    assert (reply.status, reply.attempts) == (Message.Status.QUEUED, 1)
    assert reply.due_at > timezone.now()
    assert reply.claimed_by == ""  # no worker holds it: the sender's poll takes it when due


def test_a_reply_left_queued_by_a_worker_killed_before_sending_is_sent_after_the_sweep(
    deliver, graph_api, run_worker, settings
):
    deliver(load_payload("messages__text"), handle=False)
    with mock.patch("messaging.receiving.send_replies", side_effect=SystemExit):
        with pytest.raises(SystemExit):  # killed between storing the reply and sending it
            receiving.take_delivery(WebhookDelivery.objects.get().pk)
    replies = Message.objects.filter(author="bot")
    assert replies.get().status == Message.Status.QUEUED

    answer_send(graph_api)
    assert recovery.sweep_stalled_sends().requeued == 0  # it may be on its way still
    stalled_for = timedelta(seconds=settings.REPLY_STALLED_AFTER + 1)
    replies.update(due_at=timezone.now() - stalled_for)
    assert recovery.sweep_stalled_sends().requeued == 1
    run_worker()
    assert replies.get().status == Message.Status.SENT


def test_a_delivery_handled_twice_is_handled_once(deliver):
    deliver(load_payload("messages__text"), handle=False)
    delivery = WebhookDelivery.objects.get()
    assert receiving.take_delivery(delivery.pk) is True
    # Two workers racing, or a task queued by an earlier version: nothing left to claim.
    assert receiving.take_delivery(delivery.pk) is False
    assert Message.objects.filter(direction="in").count() == 1
    assert Message.objects.filter(author="bot").count() == 1


def test_a_delivery_whose_worker_was_killed_is_handled_after_the_sweep(deliver, settings):
    deliver(load_payload("messages__text"), handle=False)
    delivery = WebhookDelivery.objects.get()
    assert WebhookDelivery.claim(delivery.pk, by="host:1:a")  # a worker took it, then died

    assert recovery.sweep_stalled_deliveries() == 0  # not stalled yet: it may still be working
    later = timezone.now() + timedelta(seconds=settings.REPLY_STALLED_AFTER + 1)
    assert recovery.sweep_stalled_deliveries(now=later) == 1
    assert waiting_ids(10) == [delivery.pk]  # back in the queue
    assert receiving.take_waiting_deliveries() == 1
    assert Message.objects.filter(direction="in").count() == 1
    assert WebhookDelivery.objects.get().state == WebhookDelivery.State.PROCESSED


def test_the_webhook_request_costs_one_insert(client):
    body = encode(load_payload("messages__text"))
    headers = signed_headers(body, "test-app-secret")
    with CaptureQueriesContext(connection) as queries:
        response = client.post(
            WEBHOOK_URL, data=body, content_type=headers.pop("Content-Type"), headers=headers
        )
    assert response.status_code == 200
    writes = [
        q["sql"] for q in queries if not q["sql"].startswith(("BEGIN", "SAVEPOINT", "RELEASE"))
    ]
    # The delivery row: nothing else happens while Meta waits.
    assert len(writes) == 1, writes
    assert writes[0].startswith("INSERT")


def test_the_webhook_leaves_the_events_to_the_worker(client):
    """The request reads the envelope only: the worker parses the events, once."""
    body = encode(load_payload("messages__text"))
    headers = signed_headers(body, "test-app-secret")
    with mock.patch("messaging.payloads.parse_event", side_effect=AssertionError) as parse_event:
        response = client.post(
            WEBHOOK_URL, data=body, content_type=headers.pop("Content-Type"), headers=headers
        )
    assert response.status_code == 200
    assert not parse_event.called
    assert WebhookDelivery.objects.get().state == WebhookDelivery.State.RECEIVED


def test_answering_a_new_customers_message_costs_a_bounded_number_of_queries(
    deliver, graph_api, run_worker, django_assert_max_num_queries, monkeypatch
):
    # Not the account's first DM: rules loaded, the account's send rate known.
    answer_send(graph_api, message_id="aWdfZAG1sent-first")
    answer_send(graph_api, message_id="aWdfZAG1sent-second")
    deliver(load_payload("messages__text"))
    run_worker()
    payload = with_mid(load_payload("messages__text"), "aWdfZAG1second-customer")
    payload["entry"][0]["messaging"][0]["sender"]["id"] = "6543210987654321"
    deliver(payload, handle=False)

    delivery = WebhookDelivery.objects.get(state=WebhookDelivery.State.RECEIVED)
    # What a process reads once a second (the rules' version, the account) and a send slot
    # still taken: on a slow, busy machine the DM may come after either; counted elsewhere.
    monkeypatch.setattr(matching, "RULES_FRESH_FOR", 3600.0)
    monkeypatch.setattr(services, "ACCOUNTS_FRESH_FOR", 3600.0)
    SendThrottle.objects.update(next_slot_at=None)
    with django_assert_max_num_queries(QUERIES_PER_NEW_DM):
        receiving.take_delivery(delivery.pk)
    assert Message.objects.get(author="bot", conversation__customer_id="6543210987654321").mid


def test_healthz_reports_deliveries_waiting_too_long(client, deliver, settings):
    WorkerHeartbeat.beat("host:1")
    deliver(load_payload("messages__text"), handle=False)
    assert client.get("/healthz").json()["deliveries"]["backlog"] == 1
    an_hour_ago = timezone.now() - timedelta(hours=1)
    WebhookDelivery.objects.update(received_at=an_hour_ago)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["problems"] == ["the oldest unhandled delivery has waited 3600 s"]
