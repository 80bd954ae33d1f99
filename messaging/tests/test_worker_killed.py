"""A worker killed (SIGKILL) mid-send: after a restart every reply goes out, and none twice where
we can know. Real processes: `manage.py worker` on each queue backend (the database, Redis) and
this test database, our fake Graph API."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from messaging.models import Message
from messaging.tests.conftest import database_url, kill_with_its_children, load_payload, with_mid

# Starts and kills worker processes.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

BASE_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["database", "redis"])
def start_worker(request):
    """Start a worker of the queue under test: the database queue, then the Redis queue."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "GRAPH_API_TIMEOUT": "60",  # the hanging send outlives the worker
        "REPLY_STALLED_AFTER": "2",
        "REPLY_SWEEP_INTERVAL": "0.5",
        "ENV_FILE": os.devnull,
    }
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


def kill_mid_send(fake_graph, workers, deliver, start_worker):
    """Deliver a DM; a worker takes its reply to the Graph API, which hangs; SIGKILL it."""
    fake_graph.fail_next("timeout", seconds=30)
    deliver(load_payload("messages__text"))
    workers.append(start_worker(fake_graph.base_url))
    assert wait_for(lambda: len(fake_graph.calls) == 1), "the worker never called the Graph API"
    kill_with_its_children(workers[0])
    workers[0].wait(timeout=10)
    reply = Message.objects.get(author="bot")
    assert reply.status == "sending"  # left in flight by the dead worker
    return reply


def test_a_reply_left_in_flight_by_a_killed_worker_is_sent_after_a_restart(
    fake_graph, workers, deliver, start_worker
):
    reply = kill_mid_send(fake_graph, workers, deliver, start_worker)

    workers.append(start_worker(fake_graph.base_url))
    assert wait_for(lambda: Message.objects.get(pk=reply.pk).status == "sent")
    # The one window Meta offers no idempotency for: the first call may have arrived. With no
    # echo to tell us, we send again (README, "The one duplicate window").
    assert [call["outcome"] for call in fake_graph.calls] == ["timeout", "sent"]


def test_no_second_send_when_the_echo_proved_the_first_arrived(
    fake_graph, workers, deliver, start_worker
):
    reply = kill_mid_send(fake_graph, workers, deliver, start_worker)
    # Meta's echo of the message the dead worker sent arrives meanwhile.
    echo = with_mid(load_payload("messages__echo"), "aWdfZAG1delivered", reply.text)
    deliver(echo)

    workers.append(start_worker(fake_graph.base_url))
    assert wait_for(lambda: Message.objects.get(pk=reply.pk).status == "sent")
    assert Message.objects.get(pk=reply.pk).mid == "aWdfZAG1delivered"
    time.sleep(1)  # a second worker loop would show up as a second call
    assert [call["outcome"] for call in fake_graph.calls] == ["timeout"]
