"""A worker killed (SIGKILL, its whole process group) with DMs in flight: once a new worker runs,
every DM is answered within 30 s of the kill, and none twice where we can know. Real
processes: `manage.py worker` on each queue backend (the database, Redis) and this test
database, our fake Graph API.

The stall sweep's REPLY_STALLED_AFTER stays at its default (120 s): what answers in time is the
dead worker's heartbeat stopping (WORKER_DEAD_AFTER, default 10 s).
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django_tasks import TaskResultStatus

from messaging.models import Message, WebhookDelivery, WorkerHeartbeat
from messaging.sending import send_reply_task
from messaging.tests.conftest import database_url, kill_with_its_children, load_payload, with_mid

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

BASE_DIR = Path(__file__).resolve().parents[2]

# The goal: every DM answered this soon after its worker was killed.
ANSWERED_WITHIN = 30.0


@pytest.fixture(params=["database", "redis"])
def start_worker(request):
    """Start a worker of the queue under test: the database queue, then the Redis queue."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "GRAPH_API_TIMEOUT": "60",  # a hanging send outlives the worker
        "REPLY_STALLED_AFTER": "120",  # the backstop's default: too late for the goal
        "ENV_FILE": os.devnull,
    }
    for setting in ("WORKER_HEARTBEAT_INTERVAL", "WORKER_DEAD_AFTER"):
        env.pop(setting, None)  # the defaults
    if request.param == "redis":
        request.getfixturevalue("redis_queue")  # this process enqueues to Redis too
        env["TASKS_BACKEND"] = "django_tasks_rq.RQBackend"

    def start_worker(graph_url: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "manage.py", "worker"],
            cwd=BASE_DIR,
            env={**env, "GRAPH_API_BASE_URL": graph_url},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # Its own process group, killed whole: on Redis the worker forks RQ's scheduler, which a
            # SIGKILL to the worker alone would leave running, holding a database connection.
            start_new_session=True,
        )

    return start_worker


def wait_for(condition, seconds=30.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def workers():
    started = []
    yield started
    for worker in started:
        kill_with_its_children(worker)
        worker.wait(timeout=10)


CUSTOMERS = [f"100000000000000{n}" for n in range(1, 7)]


def dm_from(customer_id: str) -> dict:
    """A customer's DM, as in messages__text.json, from another customer."""
    payload = with_mid(load_payload("messages__text"), f"aWdfZAG1from-{customer_id}")
    payload["entry"][0]["messaging"][0]["sender"]["id"] = customer_id
    return payload


def batch_of_dms(*customer_ids: str) -> dict:
    """One delivery carrying several DMs, as Meta batches them (an entry each)."""
    payload = dm_from(customer_ids[0])
    payload["entry"] += [dm_from(customer)["entry"][0] for customer in customer_ids[1:]]
    return payload


def echo_to(customer_id: str, mid: str, text: str) -> dict:
    payload = with_mid(load_payload("messages__echo"), mid, text)
    payload["entry"][0]["messaging"][0]["recipient"]["id"] = customer_id
    return payload


def reply_to(customer_id: str) -> Message | None:
    return Message.objects.filter(author="bot", conversation__customer_id=customer_id).first()


def answered(customer_id: str) -> bool:
    reply = reply_to(customer_id)
    return reply is not None and reply.status == "sent"


def task_ran(result) -> bool:
    result.refresh()
    return result.status == TaskResultStatus.SUCCESSFUL


def sends_to(fake_graph, customer_id: str) -> list[str]:
    return [call["outcome"] for call in fake_graph.calls if call["recipient_id"] == customer_id]


def test_every_dm_in_flight_when_the_worker_is_killed_is_answered_soon_after(
    fake_graph, workers, deliver, start_worker
):
    c1, c2, c3, c4, c5, c6 = CUSTOMERS
    fake_graph.fail_next("timeout", times=1, seconds=60)  # the first send hangs
    # A reply waiting for the sender's poll (its DM was handled before the worker started).
    deliver(dm_from(c6))
    # A delivery of three DMs and two more behind it: the pass loop takes the three
    # deliveries as one batch, stores the five DMs and their replies, then hands the replies
    # to the outbox's sender together: a round of four side by side (SENDS_PER_ACCOUNT of the
    # one account), then a round of the fifth.
    deliver(batch_of_dms(c1, c2, c3), handle=False)
    deliver(dm_from(c4), handle=False)
    deliver(dm_from(c5), handle=False)

    workers.append(start_worker(fake_graph.base_url))
    # Its loop is stuck in the first round: the first of its four calls hangs, the other three
    # are answered, and recorded sent as soon as they are, not at the round's end.
    first_round = {c1, c2, c3, c4}
    sent = Message.objects.filter(author="bot", status="sent")
    assert wait_for(
        lambda: (
            len(fake_graph.calls) == 4
            and sent.filter(conversation__customer_id__in=first_round).count() == 3
        )
    ), fake_graph.calls
    kill_with_its_children(workers[0])
    killed_at = time.monotonic()
    workers[0].wait(timeout=10)

    # What the dead worker left: the one call in flight, the next round's reply it meant to
    # send itself, one for any worker's poll; its heartbeat row.
    (hung,) = [call["recipient_id"] for call in fake_graph.calls if call["outcome"] == "timeout"]
    dead = reply_to(hung).claimed_by
    assert dead and WorkerHeartbeat.objects.filter(worker=dead).exists()
    in_flight = Message.objects.filter(status="sending", claimed_by=dead)
    assert list(in_flight.values_list("conversation__customer_id", flat=True)) == [hung]
    held = Message.objects.filter(status="queued", claimed_by=dead)
    assert list(held.values_list("conversation__customer_id", flat=True)) == [c5]
    assert (reply_to(c6).status, reply_to(c6).claimed_by) == ("queued", "")
    assert not WebhookDelivery.objects.filter(state="received").exists()
    # Meta's echo of the hung reply arrives: that send reached Meta.
    deliver(echo_to(hung, "aWdfZAG1echo-of-hung", reply_to(hung).text))

    workers.append(start_worker(fake_graph.base_url))
    left = ANSWERED_WITHIN - (time.monotonic() - killed_at)
    assert wait_for(lambda: all(answered(customer) for customer in CUSTOMERS), seconds=left), {
        customer: getattr(reply_to(customer), "status", None) for customer in CUSTOMERS
    }

    time.sleep(1)  # a send made twice would show up now
    # The hung call's echo proved its send arrived: not sent again (without an echo it would
    # be: the one window Meta offers no idempotency for, docs/recovery.md, "The duplicate
    # window"; shown in test_dead_workers). Every other DM: one reply, once; the three
    # answered beside the hung call were recorded sent before the kill, so not sent again.
    assert reply_to(hung).mid == "aWdfZAG1echo-of-hung"
    assert sends_to(fake_graph, hung) == ["timeout"]
    for customer in set(CUSTOMERS) - {hung}:
        assert sends_to(fake_graph, customer) == ["sent"]
    assert not WorkerHeartbeat.objects.filter(worker=dead).exists()  # recovered, then forgotten


def test_a_worker_stopped_gracefully_removes_its_heartbeat(
    fake_graph, workers, deliver, start_worker
):
    deliver(dm_from(CUSTOMERS[0]))  # its reply waits for the sender's poll
    probe = send_reply_task.enqueue(reply_to(CUSTOMERS[0]).pk)  # finds it sent, or sends it
    workers.append(start_worker(fake_graph.base_url))
    # Answered, and a task run: the worker is up, its task loop too (with its SIGTERM handler).
    assert wait_for(lambda: answered(CUSTOMERS[0]) and task_ran(probe)), "the worker never ran"
    assert WorkerHeartbeat.objects.exists()
    workers[0].send_signal(signal.SIGTERM)  # a deploy stopping it
    assert workers[0].wait(timeout=30) == 0
    # Stopped, not dead: nothing of its is left to recover, and /healthz says none runs.
    assert not WorkerHeartbeat.objects.exists()
