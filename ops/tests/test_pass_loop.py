"""The worker's pass loop: a thread beside the task loop that runs a pass (messaging.worker_pass)
after another, takes waiting deliveries from their table, and finishes the pass in hand when the
worker stops."""

import select
import threading
import time
from unittest import mock

import pytest
from django.db import OperationalError, connection, transaction

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


def test_an_idle_loop_sleeps_no_longer_than_it_is_told(settings):
    settings.WORKER_POLL_INTERVAL, settings.WORKER_IDLE_MAX_WAIT = 0.1, 1.0
    stopping = mock.Mock()
    bell = doorbell.Doorbell(stopping)
    bell.wait(at_most=0.03)  # a resting step skipped meanwhile is asked again in 0.03 s
    bell.wait(at_most=None)
    assert [call.args[0] for call in stopping.wait.call_args_list] == [0.03, 0.2]


def postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's; elsewhere the idle loop backs off")


def sleeping_workers() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM messaging_sleeping_worker")
        return cursor.fetchone()[0]


@pytest.fixture
def ears():
    """A session that LISTENs as the workers do: `ears()` says whether anything rang since."""
    postgresql_only()
    import psycopg

    listener = psycopg.connect(**connection.get_connection_params(), autocommit=True)
    listener.execute(f"LISTEN {doorbell.CHANNEL}")

    def rang() -> bool:
        return any(True for _ in listener.notifies(timeout=0.3, stop_after=1))

    yield rang
    listener.close()


def test_on_postgresql_a_stored_delivery_wakes_the_idle_loop(deliver, graph_api, settings):
    postgresql_only()
    # Left alone, the idle loop would not look again for a minute: only the notification of
    # the webhook's insert can wake it.
    settings.WORKER_POLL_INTERVAL = settings.WORKER_IDLE_MAX_WAIT = 60.0
    answer_send(graph_api)
    with worker.pass_loop_beside_tasks() as loop:
        wait_until(lambda: sleeping_workers() == 1)  # it said it sleeps, then looked once more
        deliver(load_payload("messages__text"), handle=False)
        wait_until(lambda: Message.objects.filter(author="bot", status="sent").exists())
        loop.stopping.set()
        # Wake it to stop (as any delivery would), rather than waiting out its minute.
        deliver(with_mid(load_payload("messages__text"), "aWdfZAG1wake-to-stop"), handle=False)
    assert sleeping_workers() == 0  # a worker that stops takes its row with it


def reached(bell):
    """Wait until what `ears` heard has reached the worker's own connection too (each
    listening session is told on its own; on a busy machine the worker's may come later)."""
    select.select([bell.listener.fileno()], [], [], 5)
    time.sleep(0.1)  # a second notification may follow the first's bytes


def test_on_postgresql_a_delivery_rings_only_while_a_worker_sleeps(deliver, ears):
    # A notifying transaction's commit holds a lock of the whole database until it is on disk:
    # rung by every webhook, the webhooks would commit one at a time.
    postgresql_only()
    bell = doorbell.PostgresDoorbell(threading.Event())

    def delivered(name) -> bool:
        """A delivery stored: whether it rang."""
        deliver(with_mid(load_payload("messages__text"), f"aWdfZAG1{name}"), handle=False)
        return ears()

    try:
        assert not delivered("no-one-sleeps")
        bell.wait()  # a pass found nothing: it says it sleeps (and the loop looks once more)
        assert sleeping_workers() == 1
        assert delivered("one-sleeps")
        bell.wait()  # woken at once
        bell.rung()  # its pass found the delivery, and nothing else came meanwhile
        assert sleeping_workers() == 1  # one now and then: it sleeps between them
        bell.rung()  # a second pass in a row finding work: it needs no doorbell
        assert sleeping_workers() == 0
        assert not delivered("busy")
        bell.wait()  # a pass found nothing: asleep again
        assert delivered("asleep-again")
        bell.wait()
        assert delivered("during-the-pass")  # while the pass woken by the first one ran
        reached(bell)
        bell.rung()  # more came during the pass: it looks at once anyway
        assert sleeping_workers() == 0
        assert not delivered("busy-again")
        bell.wait()  # asleep again
        assert delivered("burst-1") and delivered("burst-2")
        reached(bell)
        bell.wait()  # woken: more than one rang
        assert sleeping_workers() == 0
        assert not delivered("burst-3")
    finally:
        bell.close()
    assert sleeping_workers() == 0


def test_on_postgresql_a_sleeping_worker_wakes_when_a_resting_step_is_due(settings):
    # A long reply's next part, released by a DM's pass while the outbox rested, rings no
    # doorbell: the sleep ends when the outbox is asked again, not WORKER_IDLE_MAX_WAIT later.
    postgresql_only()
    settings.WORKER_IDLE_MAX_WAIT = 60.0
    bell = doorbell.PostgresDoorbell(threading.Event())
    try:
        bell.wait()  # says it sleeps, and looks once more
        started = time.monotonic()
        bell.wait(at_most=0.05)
        assert time.monotonic() - started < 30  # not the minute
    finally:
        bell.close()


def test_on_postgresql_a_worker_sleeps_only_once_the_inserts_that_did_not_ring_are_committed(
    deliver, settings
):
    # An insert that read the table before the worker's row was in it rings no one; the worker
    # must not sleep before that insert is committed, or its next pass could miss it. Nor may
    # it wait for it (a webhook's insert would queue behind its lock): it polls meanwhile.
    postgresql_only()
    settings.WORKER_POLL_INTERVAL = 0.05
    bell = doorbell.PostgresDoorbell(threading.Event())
    try:
        with transaction.atomic():
            deliver(load_payload("messages__text"), handle=False)  # not committed yet
            done = threading.Thread(target=bell.wait)
            done.start()
            done.join(5)
            assert not done.is_alive()  # it did not wait for the insert
            assert bell.said_asleep and not bell.sleeping  # inserts from now on ring
        bell.wait()  # the insert is committed: it may sleep after one more pass
        assert bell.sleeping
        # What the loop's next pass takes (a new snapshot): the delivery is there.
        assert [d.state for d in WebhookDelivery.waiting(10)] == ["received"]
    finally:
        bell.close()
