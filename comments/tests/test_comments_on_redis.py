"""A comment's path on the Redis queue backend: delivered, handled, and its private reply sent
by a real `manage.py worker` process on django-tasks-rq (the comment replies go out from its
pass loop, whatever the task backend). Against the real Redis at TEST_REDIS_URL."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from comments.models import Comment
from comments.tests.conftest import COMMENT_ID, comment_payload, make_rule, private_calls
from messaging.tests.conftest import (  # noqa: F401  (fixtures)
    database_url,
    kill_with_its_children,
    redis_queue,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]  # starts a worker

BASE_DIR = Path(__file__).resolve().parents[2]


def test_a_comment_is_answered_privately_by_the_worker_on_the_redis_queue(
    deliver,
    redis_queue,  # noqa: F811  (the fixture imported above)
    fake_graph,
    tmp_path,
):
    make_rule()
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "TASKS_BACKEND": "django_tasks_rq.RQBackend",
        "REDIS_URL": os.environ["TEST_REDIS_URL"],
        "GRAPH_API_BASE_URL": fake_graph.base_url,
        "INSTAGRAM_GRAPH_API_BASE_URL": fake_graph.base_url,
        "ENV_FILE": os.devnull,
    }
    log_path = tmp_path / "rqworker.log"
    log = log_path.open("w")
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "worker"],
        cwd=BASE_DIR,
        env=env,
        stdout=log,
        stderr=log,
        start_new_session=True,  # RQ's scheduler is a child process: killed with it below
    )
    try:
        # handle=False: the worker process handles the delivery, not this test.
        response = deliver(comment_payload(text="PRICE please 😍"), handle=False)
        assert response.status_code == 200
        deadline = time.monotonic() + 30
        answered = Comment.objects.filter(status=Comment.Status.ANSWERED_PRIVATELY)
        while time.monotonic() < deadline and not answered.exists():
            time.sleep(0.1)
        assert answered.exists(), log_path.read_text()
        comment = Comment.objects.get()
        [call] = private_calls(fake_graph)
        assert (call["comment_id"], call["outcome"]) == (COMMENT_ID, "sent")
        reply = comment.replies.get()
        assert (reply.status, reply.external_id) == ("sent", call["message_id"])
    finally:
        kill_with_its_children(worker)
        worker.wait(timeout=10)
        log.close()
