"""Load: thousands of signed deliveries, duplicates and retries among them, sent concurrently to
the production server (gunicorn), handled by two workers -> one stored message and one reply
sent per mid, zero errors.
Loopback only, bounded in count and time."""

import http.client
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from devtools.simulation import signed_headers
from messaging.models import Conversation, Message, WebhookDelivery
from messaging.tests.conftest import ACCOUNT_ID, database_url
from rules.models import ResponseRule

# Starts gunicorn and two workers.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

BASE_DIR = Path(__file__).resolve().parents[2]
UNIQUE_MESSAGES = 600
CUSTOMERS = 150
CONCURRENCY = 16
DEADLINE_SECONDS = 240


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def production_server(tmp_path):
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url(), "ENV_FILE": os.devnull}
    # The server's log goes to a file: a pipe nobody reads fills up and stalls the server.
    log = (tmp_path / "gunicorn.log").open("w")
    server = subprocess.Popen(
        [
            str(BASE_DIR / ".venv/bin/gunicorn"),
            "instabot.wsgi",
            "--workers",
            "3",
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        cwd=BASE_DIR,
        env=env,
        stdout=log,
        stderr=log,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    yield port
    server.terminate()
    server.wait(timeout=30)
    log.close()


@pytest.fixture
def workers(fake_graph, tmp_path):
    """Two workers, handling deliveries (duplicates among them) and sending, concurrently."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "GRAPH_API_BASE_URL": fake_graph.base_url,
        "ENV_FILE": os.devnull,
    }
    log = (tmp_path / "workers.log").open("w")
    command = ["manage.py", "worker"]
    started = [
        subprocess.Popen([sys.executable, *command], cwd=BASE_DIR, env=env, stdout=log, stderr=log)
        for _ in range(2)
    ]
    yield started
    for worker in started:
        worker.terminate()
        worker.wait(timeout=30)
    log.close()


def deliveries() -> list[bytes]:
    """Each message delivered 2 or 3 times (Meta's retries), some batched, all shuffled."""
    now = int(time.time() * 1000)
    events = [
        {
            "sender": {"id": f"9{n % CUSTOMERS:05d}"},
            "recipient": {"id": ACCOUNT_ID},
            "timestamp": now,
            "message": {"mid": f"load-{n}", "text": f"order #{n} 📦"},
        }
        for n in range(UNIQUE_MESSAGES)
    ]
    randomness = random.Random(42)
    copies = [event for event in events for _ in range(randomness.choice([2, 3]))]
    randomness.shuffle(copies)
    bodies, position = [], 0
    while position < len(copies):
        size = randomness.choice([1, 1, 1, 5])  # mostly single messages, some batches
        batch = copies[position : position + size]
        position += size
        payload = {
            "object": "instagram",
            "entry": [{"id": ACCOUNT_ID, "time": now, "messaging": batch}],
        }
        bodies.append(json.dumps(payload, ensure_ascii=True).encode())
    return bodies


def test_concurrent_load_with_duplicates_stores_and_answers_each_message_once(
    production_server, workers, fake_graph
):
    # A rule answers every message: rule replies are always sent, one per message.
    ResponseRule.objects.create(keywords="order", response_text="Got your order 👍")
    bodies = deliveries()
    queue = list(enumerate(bodies))
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    deadline = time.monotonic() + DEADLINE_SECONDS

    def sender():
        conn = http.client.HTTPConnection("127.0.0.1", production_server, timeout=30)
        while time.monotonic() < deadline:
            with lock:
                if not queue:
                    return
                index, body = queue.pop()
            headers = signed_headers(body, "test-app-secret")
            conn.request("POST", "/webhooks/instagram", body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            with lock:
                statuses[index] = response.status

    threads = [threading.Thread(target=sender) for _ in range(CONCURRENCY)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=DEADLINE_SECONDS)

    assert len(statuses) == len(bodies), "not every delivery was answered within the deadline"
    assert set(statuses.values()) == {200}  # zero 5xx, and no other refusals either
    assert WebhookDelivery.objects.count() == len(bodies)  # each accepted one is stored

    def all_handled_and_sent():
        unhandled = WebhookDelivery.objects.exclude(state="processed").exists()
        return not unhandled and not Message.objects.filter(author="bot").exclude(status="sent")

    while time.monotonic() < deadline and not all_handled_and_sent():
        time.sleep(0.5)
    assert all_handled_and_sent(), "the workers did not catch up within the deadline"
    assert Message.objects.filter(direction="in").count() == UNIQUE_MESSAGES
    replies = Message.objects.filter(author="bot")
    assert replies.count() == UNIQUE_MESSAGES
    assert replies.values("in_reply_to").distinct().count() == UNIQUE_MESSAGES
    assert Conversation.objects.count() == CUSTOMERS
    sent = [call for call in fake_graph.calls if call["outcome"] == "sent"]
    assert len(sent) == UNIQUE_MESSAGES  # one Send API call per message, however delivered
