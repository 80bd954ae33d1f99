"""The long-running `manage.py worker`, started as production starts it (a process of its own,
the database queue): what its pass does, a test of it rather than of `--once` alone."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from comments.models import Comment, Post
from comments.tests.conftest import COMMENT_ID, comment_payload, make_rule, private_calls
from messaging.models import WebhookDelivery
from messaging.tests.conftest import database_url, fake_graph, kill_with_its_children  # noqa: F401
from messaging.tests.test_end_to_end import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]  # starts a worker

BASE_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture
def worker_process(fake_graph, tmp_path):  # noqa: F811  (the fixture imported above)
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "GRAPH_API_BASE_URL": fake_graph.base_url,
        "INSTAGRAM_GRAPH_API_BASE_URL": fake_graph.base_url,
        "ENV_FILE": os.devnull,
        "WORKER_NICENESS": "0",
    }
    log_path = tmp_path / "worker.log"
    with log_path.open("w") as log:
        worker = subprocess.Popen(
            [sys.executable, "manage.py", "worker"],
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        try:
            yield log_path
        finally:
            kill_with_its_children(worker)
            worker.wait(timeout=10)


def test_the_worker_answers_a_comment_and_fetches_its_posts_link_and_thumbnail(
    deliver,
    fake_graph,  # noqa: F811  (the fixture imported above)
    worker_process,
):
    make_rule()
    # handle=False: the worker process handles the delivery, not this test.
    assert deliver(comment_payload(text="PRICE please 😍"), handle=False).status_code == 200
    answered = Comment.objects.filter(status=Comment.Status.ANSWERED_PRIVATELY)
    assert wait_for(answered.exists, seconds=30), worker_process.read_text()
    [call] = private_calls(fake_graph)
    assert (call["comment_id"], call["outcome"]) == (COMMENT_ID, "sent")
    # When no work waits, its pass asks Instagram about the post commented on (the long-running
    # worker once never did, while `worker --once` did).
    fetched = Post.objects.exclude(permalink="")
    assert wait_for(fetched.exists, seconds=30), worker_process.read_text()
    post = fetched.get()
    assert post.permalink == "https://www.instagram.com/p/fake4550/"
    assert post.thumbnail_url.startswith(fake_graph.base_url)
    assert WebhookDelivery.objects.get().state == WebhookDelivery.State.PROCESSED
