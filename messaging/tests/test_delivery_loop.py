"""The worker's delivery loop: a thread beside the task loop that takes waiting deliveries from
their table, and finishes the delivery in hand when the worker stops."""

import threading
import time
from unittest import mock

import pytest
from django.db import OperationalError

from messaging import delivery_loop, receiving
from messaging.models import Message, WebhookDelivery
from messaging.tests.conftest import answer_send, load_payload

pytestmark = pytest.mark.django_db(transaction=True)  # the loop's thread has its own connection


def wait_until(condition, seconds=10.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_the_loop_handles_a_delivery_stored_while_it_runs_and_sends_its_reply(
    deliver, graph_api, settings
):
    settings.WORKER_POLL_INTERVAL = 0.02
    answer_send(graph_api)
    with delivery_loop.delivery_loop_beside_tasks():
        deliver(load_payload("messages__text"), handle=False)
        wait_until(lambda: Message.objects.filter(author="bot", status="sent").exists())
    assert WebhookDelivery.objects.get().state == WebhookDelivery.State.PROCESSED


def test_stopping_the_worker_lets_the_delivery_in_hand_finish_and_takes_no_other(
    deliver, graph_api
):
    answer_send(graph_api)
    deliver(load_payload("messages__text"), handle=False)
    in_hand, go_on = threading.Event(), threading.Event()
    handle = receiving.take_delivery

    def slow_handling(delivery_id, **kwargs):
        in_hand.set()
        go_on.wait(10)
        return handle(delivery_id, **kwargs)

    with mock.patch.object(receiving, "take_delivery", side_effect=slow_handling):
        with delivery_loop.delivery_loop_beside_tasks() as loop:
            assert in_hand.wait(10)
            loop.stopping.set()  # the task loop ended: SIGTERM
            threading.Timer(0.2, go_on.set).start()
        # Leaving the block waited for the delivery in hand.
        assert not loop.is_alive()
    assert WebhookDelivery.objects.get().state == WebhookDelivery.State.PROCESSED
    assert Message.objects.get(author="bot").status == Message.Status.SENT


def test_a_failing_pass_is_logged_and_the_loop_goes_on_after_a_pause(settings, caplog):
    settings.WORKER_POLL_INTERVAL = 0.01
    calls = []

    def flaky(limit=receiving.DELIVERY_BATCH):
        calls.append(limit)
        if len(calls) == 1:
            raise OperationalError("the database is restarting")
        return 0

    with (
        mock.patch.object(delivery_loop, "take_waiting_deliveries", side_effect=flaky),
        mock.patch.object(delivery_loop, "PAUSE_AFTER_FAILURE", 0.2),
    ):
        started = time.monotonic()
        with delivery_loop.delivery_loop_beside_tasks():
            wait_until(lambda: len(calls) >= 3)
        assert time.monotonic() - started >= 0.2  # paused after the failure, not spinning
    assert "The delivery loop failed; trying again" in caplog.text
