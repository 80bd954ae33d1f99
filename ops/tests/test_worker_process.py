"""The long-running `manage.py worker`, started as production starts it (a process of its own,
the database queue): what its pass does, a test of it rather than of `--once` alone."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from comments.models import Comment, Post
from comments.tests.conftest import COMMENT_ID, comment_payload, make_rule, private_calls
from messaging.models import WebhookDelivery
from messaging.tests.conftest import (  # noqa: F401  (fake_graph: a fixture)
    database_url,
    fake_graph,
    kill_with_its_children,
    load_payload,
    with_mid,
)
from messaging.tests.test_end_to_end import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]  # starts a worker

BASE_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture
def worker_env() -> dict:
    """What a test adds to the worker's environment (parametrize to set it)."""
    return {}


@pytest.fixture
def worker_process(fake_graph, tmp_path, worker_env):  # noqa: F811  (the fixture imported above)
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "GRAPH_API_BASE_URL": fake_graph.base_url,
        "INSTAGRAM_GRAPH_API_BASE_URL": fake_graph.base_url,
        "ENV_FILE": os.devnull,
        "WORKER_NICENESS": "0",
        **worker_env,
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


def sleeping_workers() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM messaging_sleeping_worker")
        return cursor.fetchone()[0]


def processed() -> int:
    return WebhookDelivery.objects.filter(state=WebhookDelivery.State.PROCESSED).count()


# It would look on its own only after a minute: only the doorbell can make it look sooner.
@pytest.mark.parametrize("worker_env", [{"WORKER_IDLE_MAX_WAIT": "60"}])
def test_on_postgresql_the_worker_is_woken_by_a_delivery_before_and_after_a_burst(
    deliver, worker_process
):
    if connection.vendor != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's; elsewhere the idle worker backs off")
    assert wait_for(lambda: sleeping_workers() == 1, seconds=30), worker_process.read_text()
    deliver(with_mid(load_payload("messages__text"), "aWdfZAG1first"), handle=False)
    assert wait_for(lambda: processed() == 1, seconds=10), worker_process.read_text()
    # A burst: deliveries one after another while it works through them (it may stop saying
    # it sleeps meanwhile, and say so again at the end); none waits for its minute.
    for n in range(40):
        deliver(with_mid(load_payload("messages__text"), f"aWdfZAG1burst{n}"), handle=False)
    assert wait_for(lambda: processed() == 41, seconds=20), worker_process.read_text()
    assert wait_for(lambda: sleeping_workers() == 1, seconds=10), worker_process.read_text()
    deliver(with_mid(load_payload("messages__text"), "aWdfZAG1after"), handle=False)
    assert wait_for(lambda: processed() == 42, seconds=10), worker_process.read_text()
