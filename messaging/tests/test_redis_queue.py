"""The Redis queue backend (django-tasks-rq): the same pipeline, with tasks in Redis and the
`manage.py worker` on it. Against the real Redis at TEST_REDIS_URL (CI sets it)."""

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from unittest import mock

import pytest
from django.db import transaction
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_rq import RQBackend
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from rq.registry import ScheduledJobRegistry

from messaging.models import Message, WorkerHeartbeat
from messaging.sending import send_reply_task
from messaging.task_queue import enqueue
from messaging.tests.conftest import (
    answer_send,
    database_url,
    kill_with_its_children,
    load_payload,
    sends,
)
from messaging.tests.test_sending_replies import TRANSIENT

pytestmark = pytest.mark.django_db(transaction=True)

BASE_DIR = Path(__file__).resolve().parents[2]


def task_ran(result) -> bool:
    result.refresh()
    return result.status == TaskResultStatus.SUCCESSFUL


def reply() -> Message:
    return Message.objects.get(author="bot")


def test_a_dm_is_answered_through_the_redis_queue(deliver, graph_api, redis_queue, run_rq_worker):
    answer_send(graph_api, message_id="aWdfZAG1via-redis")
    deliver(load_payload("messages__text"), handle=False)
    # Whatever the task backend, a delivery waits in its own table, not as a task.
    assert redis_queue.count == 0

    run_rq_worker()  # handles the delivery and sends its reply
    assert (reply().status, reply().mid) == ("sent", "aWdfZAG1via-redis")
    assert len(sends(graph_api)) == 1
    assert redis_queue.count == 0  # the new customer's username fetch ran too


def test_a_task_reaches_redis_only_when_its_transaction_commits(deliver, redis_queue, graph_api):
    deliver(load_payload("messages__text"))
    redis_queue.empty()
    queued = reply()

    with pytest.raises(RuntimeError), transaction.atomic():
        enqueue(send_reply_task, queued.pk)
        raise RuntimeError("the transaction rolls back")
    assert redis_queue.count == 0  # no task about rows that were never written

    with transaction.atomic():
        enqueue(send_reply_task, queued.pk)
        assert redis_queue.count == 0  # not before the rows it is about are visible
    assert redis_queue.count == 1


def test_a_retry_waits_in_its_row_not_in_redis(deliver, graph_api, redis_queue, run_rq_worker):
    answer_send(graph_api, status=500, error=TRANSIENT)
    answer_send(graph_api, message_id="aWdfZAG1second-try")
    deliver(load_payload("messages__text"))

    run_rq_worker()
    waiting = reply()
    assert (waiting.status, waiting.attempts) == ("queued", 1)
    # The outbox's row is the schedule: nothing about it in Redis.
    assert ScheduledJobRegistry(queue=redis_queue).count == 0
    assert redis_queue.count == 0

    Message.objects.filter(pk=waiting.pk).update(due_at=timezone.now())
    run_rq_worker()  # the sender's poll takes it once due
    sent = reply()
    assert (sent.status, sent.mid, sent.attempts) == ("sent", "aWdfZAG1second-try", 2)


def test_a_reply_held_by_a_worker_that_never_sent_it_is_sent_after_the_sweep(
    deliver, graph_api, redis_queue, run_rq_worker
):
    answer_send(graph_api, message_id="aWdfZAG1recovered")
    deliver(load_payload("messages__text"))
    an_hour_ago = timezone.now() - timedelta(hours=1)
    Message.objects.filter(author="bot").update(due_at=an_hour_ago, claimed_by="host:1:gone")

    run_rq_worker()  # a burst run sweeps first
    assert reply().status == "sent"


@pytest.mark.slow  # starts a worker process
def test_the_rq_worker_process_answers_and_reports_its_heartbeat(
    deliver, redis_queue, fake_graph, tmp_path
):
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "TASKS_BACKEND": "django_tasks_rq.RQBackend",
        "REDIS_URL": os.environ["TEST_REDIS_URL"],
        "GRAPH_API_BASE_URL": fake_graph.base_url,
        "ENV_FILE": os.devnull,
    }
    log = (tmp_path / "rqworker.log").open("w")
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "worker"],
        cwd=BASE_DIR,
        env=env,
        stdout=log,
        stderr=log,
        start_new_session=True,  # see the finally: RQ's scheduler is a child process
    )
    try:
        deliver(load_payload("messages__text"))
        probe = send_reply_task.enqueue(reply().pk)  # finds it sent, or sends it
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (reply().status == "sent" and task_ran(probe)):
            time.sleep(0.1)
        assert reply().status == "sent", (tmp_path / "rqworker.log").read_text()
        assert task_ran(probe)  # the task loop is up, with its SIGTERM handler
        assert [call["outcome"] for call in fake_graph.calls] == ["sent"]
        assert WorkerHeartbeat.objects.exists()

        # SIGTERM: RQ's warm shutdown, after the task at hand.
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
    finally:
        # Whatever happened, nothing of this worker outlives the test: not RQ's scheduler
        # either, which keeps a database connection.
        kill_with_its_children(worker)
        worker.wait(timeout=10)
        log.close()


def test_an_unreachable_redis_loses_nothing_the_webhook_accepted(
    deliver, graph_api, redis_queue, run_rq_worker, caplog
):
    answer_send(graph_api, message_id="aWdfZAG1after-outage")
    with mock.patch.object(RQBackend, "enqueue", side_effect=RedisConnectionError("refused")):
        response = deliver(load_payload("messages__text"))
        assert response.status_code == 200  # the DM and its reply are stored
        assert reply().status == "queued"
        run_rq_worker()  # replies need no task: the outbox's rows are the queue
    assert reply().status == "sent"
    assert "Could not queue" not in caplog.text


def test_healthz_reports_an_unreachable_redis(client, redis_queue):
    WorkerHeartbeat.beat("host:1")
    assert client.get("/healthz").status_code == 200
    with mock.patch.object(Redis, "ping", side_effect=RedisConnectionError("refused")):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["problems"] == ["task queue unreachable (ConnectionError)"]
