import contextlib
import copy
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import django_rq
import pytest
import responses
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django_tasks_db.management.commands import db_worker

from devtools.fake_graph import FakeGraphAPI
from devtools.simulation import signed_headers
from messaging import receiving
from messaging.models import Message, WebhookDelivery
from messaging.worker_identity import this_worker

PAYLOADS = Path(__file__).parent / "payloads"
ACCOUNT_ID = "17841400000000001"
CUSTOMER_ID = "1234567890123456"
WEBHOOK_URL = "/webhooks/instagram"


def send_api_url() -> str:
    return f"{settings.GRAPH_API_BASE_URL}/{settings.GRAPH_API_VERSION}/me/messages"


def load_payload(name: str, *, fresh: bool = True) -> dict:
    """A fixture payload; `fresh` moves its timestamps to now (inside the 24-hour window)."""
    payload = json.loads((PAYLOADS / f"{name}.json").read_text())
    if fresh:
        now_ms = int(time.time() * 1000)
        for entry in payload["entry"]:
            entry["time"] = now_ms
            for item in entry.get("messaging", []) + entry.get("standby", []):
                item["timestamp"] = now_ms
            for change in entry.get("changes", []):
                # As the Test samples send it: a string, in seconds.
                if "timestamp" in change["value"]:
                    change["value"]["timestamp"] = str(now_ms // 1000)
    return payload


def with_mid(payload: dict, mid: str, text: str | None = None) -> dict:
    """A copy of a one-message payload with another mid (and text)."""
    payload = copy.deepcopy(payload)
    message = payload["entry"][0]["messaging"][0]["message"]
    message["mid"] = mid
    if text is not None:
        message["text"] = text
    return payload


def encode(payload: dict) -> bytes:
    # As Meta does: non-ASCII escaped.
    return json.dumps(payload, ensure_ascii=True).encode()


@pytest.fixture
def deliver(client):
    """POST a payload (dict or raw bytes) to the webhook, signed with the app secret; then
    handle what it accepted, as the worker's delivery task does (`handle=False`: don't)."""

    def deliver(payload, *, secret=None, headers=None, path=WEBHOOK_URL, handle=True):
        body = payload if isinstance(payload, bytes) else encode(payload)
        all_headers = signed_headers(body, secret or settings.FACEBOOK_APP_SECRET)
        all_headers.update(headers or {})
        response = client.post(
            path,
            data=body,
            content_type=all_headers.pop("Content-Type"),
            headers=all_headers,
        )
        if handle:
            handle_accepted_deliveries()
        return response

    return deliver


def waiting_ids(limit: int) -> list[int]:
    """The deliveries a worker would take now, in its order."""
    return [delivery.pk for delivery in WebhookDelivery.waiting(limit)]


def handle_accepted_deliveries() -> None:
    """What the worker's pass does with every delivery waiting, except that the replies are
    left to the sender's poll instead of sent at once: `run_worker` sends them, so a test can
    set Meta's answers, or step in, between the two."""

    def leave_to_the_poll(replies: list[Message]) -> None:
        for reply in replies:
            Message.let_go(reply.pk, from_worker=this_worker())

    with mock.patch.object(receiving, "send_replies", side_effect=leave_to_the_poll):
        while receiving.take_waiting_deliveries():
            pass


@pytest.fixture
def graph_api():
    """Meta's Graph API, mocked: any call the test did not expect fails.

    Customer profiles (fetched by the worker for each new conversation) are answered.
    """
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add(
            responses.GET,
            re.compile(rf"{re.escape(settings.GRAPH_API_BASE_URL)}/v[\d.]+/\d+\?fields="),
            json={"username": "jacket.fan", "name": "Jacket Fan"},
        )
        yield mock


@pytest.fixture
def fake_graph():
    """Our fake Graph API on 127.0.0.1, for worker processes to send to (GRAPH_API_BASE_URL)."""
    fake = FakeGraphAPI().start()
    yield fake
    fake.stop()


def kill_with_its_children(process) -> None:
    """SIGKILL, as a machine dying would, to a process started with start_new_session=True and
    to what it forked (on Redis the worker forks RQ's scheduler, which holds a database
    connection)."""
    with contextlib.suppress(ProcessLookupError):  # the whole group is gone already
        os.killpg(process.pid, signal.SIGKILL)


def sends(graph_api) -> list:
    """The Send API calls among the calls the mocked Graph API received."""
    return [call for call in graph_api.calls if call.request.url == send_api_url()]


def queued_sends():
    """Outgoing messages waiting for the outbox's sender (queued, no worker holding them)."""
    return Message.objects.filter(direction="out", status="queued", claimed_by="")


def answer_send(graph_api, *, message_id="aWdfZAG1sent-1", status=200, error=None, times=1):
    body = {"error": error} if error else {"recipient_id": CUSTOMER_ID, "message_id": message_id}
    for _ in range(times):
        graph_api.add(responses.POST, send_api_url(), json=body, status=status)


@pytest.fixture
def run_worker():
    """Run the real worker (manage.py worker --once) over every task that is due."""

    def run_worker():
        # The worker installs its own signal handlers; give the test run its own back.
        saved = {
            sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT)
        }
        try:
            # Between tasks the worker closes connections that are "not in autocommit"; inside
            # a test's transaction that would be every connection, and the test's data with it.
            with mock.patch.object(db_worker, "close_old_connections"):
                call_command("worker", once=True, verbosity=0)
        finally:
            for sig, handler in saved.items():
                signal.signal(sig, handler)

    return run_worker


@pytest.fixture
def redis_queue(settings):
    """The Redis queue backend, on the Redis at TEST_REDIS_URL, emptied before and after.

    Tasks reach Redis when their transaction commits: tests using this need transaction=True.
    """
    if not os.environ.get("TEST_REDIS_URL"):
        pytest.skip("the Redis queue's tests need TEST_REDIS_URL (CI sets it)")
    settings.TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend"}}
    queue = django_rq.get_queue("default")
    queue.connection.flushdb()
    yield queue
    queue.connection.flushdb()


@pytest.fixture
def run_rq_worker(redis_queue):
    """Run the real worker on the Redis queue (manage.py worker --once) over every task due."""

    def run_rq_worker():
        saved = {
            sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT)
        }
        try:
            call_command("worker", once=True, verbosity=0)
        finally:
            for sig, handler in saved.items():
                signal.signal(sig, handler)

    return run_rq_worker


def database_url() -> str:
    """This test run's database, for another process."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    scheme = {"mysql": "mysql", "postgresql": "postgres"}[connection.vendor]
    credentials = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"{scheme}://{credentials}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@pytest.fixture
def worker_process():
    """Run `manage.py worker --once` in a process of its own, on this test's database (the
    test needs transaction=True: the process sees committed rows only). `env` adds to the
    suite's environment (GRAPH_API_BASE_URL: the fake Graph API's, say). Returns its output;
    a failing worker fails the test."""

    def run(**env):
        result = subprocess.run(
            [sys.executable, "manage.py", "worker", "--once"],
            cwd=Path(__file__).resolve().parents[2],
            env={**os.environ, "DATABASE_URL": database_url(), "ENV_FILE": os.devnull, **env},
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        return result

    return run
