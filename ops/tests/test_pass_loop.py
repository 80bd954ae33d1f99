"""The worker's pass loop: a thread beside the task loop that runs a pass (messaging.worker_pass)
after another, takes waiting deliveries from their table, and finishes the pass in hand when the
worker stops."""

import threading
import time
from unittest import mock

import pytest
from django.db import OperationalError, connection

from messaging import receiving
from messaging.models import Message, WebhookDelivery
from messaging.tests.conftest import answer_send, load_payload, with_mid
from messaging.worker_pass import Stage
from ops import doorbell, worker

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
    with worker.pass_loop_beside_tasks():
        deliver(load_payload("messages__text"), handle=False)
        wait_until(lambda: Message.objects.filter(author="bot", status="sent").exists())
    assert WebhookDelivery.objects.get().state == WebhookDelivery.State.PROCESSED


def test_stopping_the_worker_lets_the_delivery_in_hand_finish_and_takes_no_other(
    deliver, graph_api
):
    answer_send(graph_api)
    deliver(load_payload("messages__text"), handle=False)
    in_hand, go_on = threading.Event(), threading.Event()
    handle = receiving.handle_batch

    def slow_handling(deliveries):
        in_hand.set()
        go_on.wait(10)
        return handle(deliveries)

    with mock.patch.object(receiving, "handle_batch", side_effect=slow_handling):
        with worker.pass_loop_beside_tasks() as loop:
            assert in_hand.wait(10)
            loop.stopping.set()  # the task loop ended: SIGTERM
            threading.Timer(0.2, go_on.set).start()
        # Leaving the block waited for the delivery in hand.
        assert not loop.is_alive()
    assert WebhookDelivery.objects.get().state == WebhookDelivery.State.PROCESSED
    assert Message.objects.get(author="bot").status == Message.Status.SENT


def test_a_failing_pass_is_logged_and_the_loop_goes_on_after_a_pause(
    settings, caplog, worker_steps
):
    settings.WORKER_POLL_INTERVAL = 0.01
    calls = []

    def flaky(limit=receiving.DELIVERY_BATCH):
        calls.append(limit)
        if len(calls) == 1:
            raise OperationalError("the database is restarting")
        return 0

    worker_steps.register_step(Stage.WORK, "Taking waiting deliveries", flaky)
    with mock.patch.object(worker, "PAUSE_AFTER_FAILURE", 0.2):
        started = time.monotonic()
        with worker.pass_loop_beside_tasks():
            wait_until(lambda: len(calls) >= 3)
        assert time.monotonic() - started >= 0.2  # paused after the failure, not spinning
    assert "Worker step failed: Taking waiting deliveries" in caplog.text
    assert "The worker's pass failed (Taking waiting deliveries); trying again" in caplog.text


def test_an_idle_loop_looks_less_and_less_often_and_at_once_again_after_work(settings):
    settings.WORKER_POLL_INTERVAL, settings.WORKER_IDLE_MAX_WAIT = 0.1, 1.0
    stopping = mock.Mock()
    bell = doorbell.Doorbell(stopping)
    for _ in range(6):
        bell.wait()
    waits = [call.args[0] for call in stopping.wait.call_args_list]
    assert waits == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    bell.rung()  # a pass found work
    bell.wait()
    assert stopping.wait.call_args.args[0] == 0.1


real_listen = doorbell.PostgresDoorbell._listen


def test_on_postgresql_a_stored_delivery_wakes_the_idle_loop(deliver, graph_api, settings):
    if connection.vendor != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's; elsewhere the idle loop backs off")
    # Left alone, the idle loop would not look again for a minute: only the notification of
    # the webhook's insert can wake it.
    settings.WORKER_POLL_INTERVAL = settings.WORKER_IDLE_MAX_WAIT = 60.0
    answer_send(graph_api)
    with mock.patch.object(doorbell.PostgresDoorbell, "_listen", autospec=True) as listen:
        listening = threading.Event()

        def listen_and_say_so(bell):
            result = real_listen(bell)
            listening.set()
            return result

        listen.side_effect = listen_and_say_so
        with worker.pass_loop_beside_tasks() as loop:
            assert listening.wait(10)
            deliver(load_payload("messages__text"), handle=False)
            wait_until(lambda: Message.objects.filter(author="bot", status="sent").exists())
            loop.stopping.set()
            # Wake it to stop (as any delivery would), rather than waiting out its minute.
            deliver(with_mid(load_payload("messages__text"), "aWdfZAG1wake-to-stop"), handle=False)
