"""Database connections under load, with real servers on PostgreSQL and MariaDB: a burst of
signed deliveries to the development server and to gunicorn is all stored, no answer is a 5xx,
and no process holds more connections than its budget (docs/connections.md); after a database
restart the web processes and the worker recover on their own.

The restart tests restart the machine's database server: they run only with TEST_DB_RESTART=1.
"""

import contextlib
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from django.db import connection

from devtools.fake_graph import FakeGraphAPI
from devtools.simulation import message_delivery, signed_headers
from messaging.models import Message, WebhookDelivery
from messaging.tests.conftest import ACCOUNT_ID, database_url

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor == "sqlite", reason="connection budgets are about database servers"
    ),
]

BASE_DIR = Path(__file__).resolve().parents[2]
APP_SECRET = "test-app-secret"  # FACEBOOK_APP_SECRET in devtools.test_environment
BURST = 400
CONCURRENCY = 16
POOL_SIZE = 4  # DB_POOL_MAX_SIZE given to the servers here
GUNICORN_PROCESSES, GUNICORN_THREADS = 2, 4
DEADLINE_SECONDS = 240

# How many connections each server may hold at once (docs/connections.md): on PostgreSQL its
# pool's size per process; on MariaDB one per thread that uses the database.
BUDGETS = {
    ("runserver", "postgresql"): POOL_SIZE,
    ("runserver", "mysql"): CONCURRENCY,
    ("gunicorn", "postgresql"): GUNICORN_PROCESSES * POOL_SIZE,
    ("gunicorn", "mysql"): GUNICORN_PROCESSES * GUNICORN_THREADS,
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_environment(**extra) -> dict:
    return {
        **os.environ,
        "DATABASE_URL": database_url(),
        "ENV_FILE": os.devnull,
        "DB_POOL_MAX_SIZE": str(POOL_SIZE),
        **extra,
    }


def wait_for_port(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        time.sleep(0.2)
    raise RuntimeError("the server did not start; see its log")


@contextlib.contextmanager
def running(command: list[str], log_path: Path, env: dict):
    # The log goes to a file: a pipe nobody reads fills up and stalls the process.
    with log_path.open("w") as log:
        process = subprocess.Popen(command, cwd=BASE_DIR, env=env, stdout=log, stderr=log)
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextlib.contextmanager
def web_server(kind: str, tmp_path: Path):
    port = free_port()
    if kind == "runserver":
        command = [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"]
    else:
        command = [
            str(BASE_DIR / ".venv/bin/gunicorn"),
            "instabot.wsgi",
            "--workers",
            str(GUNICORN_PROCESSES),
            "--threads",
            str(GUNICORN_THREADS),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ]
    with running(command, tmp_path / f"{kind}.log", server_environment()) as process:
        wait_for_port(port, process)
        yield port


def connections_to_this_database() -> int:
    """Client connections the database server has open to the test database."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND backend_type = 'client backend'"
            )
        else:
            cursor.execute(
                "SELECT count(*) FROM information_schema.processlist WHERE db = database()"
            )
        return cursor.fetchone()[0]


class ConnectionSampler(threading.Thread):
    """The most connections the servers held at once, sampled while they work. The test's own
    are left out: counted before the servers are sent anything (`own`: this thread's; the
    sampler's baseline: this thread's and the sampler's)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.own = connections_to_this_database()
        self.most = 0
        self.ready = threading.Event()
        self.stopping = threading.Event()

    def run(self):
        try:
            baseline = connections_to_this_database()
            self.ready.set()
            while not self.stopping.wait(0.1):
                self.most = max(self.most, connections_to_this_database() - baseline)
        finally:
            self.ready.set()
            connection.close()

    def start(self):
        super().start()
        self.ready.wait()

    def stop(self) -> int:
        self.stopping.set()
        self.join()
        return self.most


def delivery(n: int) -> bytes:
    return message_delivery(
        account_id=ACCOUNT_ID,
        sender_id=f"9{n % 50:05d}",
        recipient_id=ACCOUNT_ID,
        text=f"order #{n}",
        mid=f"burst-{n}",
    )


class Senders:
    """CONCURRENCY clients posting signed deliveries, each on a kept-alive HTTP connection,
    taking numbers from one counter until `count` are sent or stop() is called. Records each
    answer's status (or the exception that stood for one) by mid number."""

    def __init__(self, port: int, count: int | None = None):
        self.port, self.count = port, count
        self.answers: dict[int, int | str] = {}
        self.next_number = 0
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.send, daemon=True) for _ in range(CONCURRENCY)]

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc_info):
        self.stop()

    def stop(self):
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=DEADLINE_SECONDS)

    def take_number(self) -> int | None:
        with self.lock:
            finished = self.count is not None and self.next_number >= self.count
            if finished or self.stopping.is_set():
                return None
            self.next_number += 1
            return self.next_number - 1

    def send(self):
        client = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        while (n := self.take_number()) is not None:
            body = delivery(n)
            try:
                headers = signed_headers(body, APP_SECRET)
                client.request("POST", "/webhooks/instagram", body=body, headers=headers)
                response = client.getresponse()
                response.read()
                answer = response.status
            except (OSError, http.client.HTTPException) as exc:
                answer = type(exc).__name__
                client.close()
            with self.lock:
                self.answers[n] = answer

    def accepted(self) -> set[str]:
        with self.lock:
            return {f"burst-{n}" for n, answer in self.answers.items() if answer == 200}


def stored_mids() -> set[str]:
    return {
        event["message"]["mid"]
        for body in WebhookDelivery.objects.values_list("body", flat=True)
        for entry in json.loads(bytes(body))["entry"]
        for event in entry["messaging"]
    }


@pytest.mark.parametrize("server", ["runserver", "gunicorn"])
def test_a_burst_of_deliveries_is_all_stored_within_the_connection_budget(server, tmp_path):
    with web_server(server, tmp_path) as port:
        sampler = ConnectionSampler()
        sampler.start()
        with Senders(port, count=BURST) as senders:
            while len(senders.answers) < BURST and all(t.is_alive() for t in senders.threads):
                time.sleep(0.2)
        most_held = sampler.stop()

        assert Counter(senders.answers.values()) == {200: BURST}  # no 5xx, no refusal at all
        assert stored_mids() == {f"burst-{n}" for n in range(BURST)}
        assert most_held <= BUDGETS[(server, connection.vendor)]
        if server == "runserver" and connection.vendor == "mysql":
            # Without a pool, the development server keeps no connection once its requests
            # are answered (Django closes it as the request finishes, just after the answer).
            deadline = time.monotonic() + 30
            while connections_to_this_database() > sampler.own and time.monotonic() < deadline:
                time.sleep(0.2)
            assert connections_to_this_database() == sampler.own


# --- A database restart under load ------------------------------------------------------------


START_STOP_DAEMON, MARIADBD = "/usr/sbin/start-stop-daemon", "/usr/sbin/mariadbd"
MARIADB_ADMIN = ["/usr/bin/mariadb-admin", "--user=root", "--host=127.0.0.1", "--protocol=tcp"]


def restart_database_server() -> None:
    """Restart the machine's database server, quickly, and see that it runs again whatever
    happens: other test runs on this machine use it."""
    if connection.vendor == "postgresql":
        subprocess.run(
            ["/usr/bin/pg_ctlcluster", "--skip-systemctl-redirect", "15", "main", "restart"],
            check=True,
            timeout=120,
        )
        return
    try:
        # SIGTERM is mariadbd's clean shutdown; wait until the process has gone.
        stop = [START_STOP_DAEMON, "--stop", "--oknodo", "--retry", "TERM/60", "--exec", MARIADBD]
        subprocess.run(stop, check=True, timeout=90)
    finally:
        start_mariadb_until_it_answers()


def start_mariadb_until_it_answers() -> None:
    start = [START_STOP_DAEMON, "--start", "--oknodo", "--background", "--exec", MARIADBD]
    deadline = time.monotonic() + 120
    while subprocess.run([*MARIADB_ADMIN, "ping"], capture_output=True).returncode != 0:
        if time.monotonic() > deadline:
            raise RuntimeError("MariaDB did not come back: start it (see this function)")
        # --oknodo: nothing to do when one is running already (still starting, or stopping).
        subprocess.run(start, check=False, timeout=30, capture_output=True)
        time.sleep(0.5)


@pytest.fixture
def fake_graph():
    """Our fake Graph API, for the worker to send its replies to."""
    fake = FakeGraphAPI().start()
    yield fake
    fake.stop()


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.5)


@pytest.mark.skipif(
    os.environ.get("TEST_DB_RESTART") != "1",
    reason="restarts the machine's database server: set TEST_DB_RESTART=1",
)
def test_after_a_database_restart_under_load_web_and_worker_recover_without_losing_anything(
    tmp_path, fake_graph
):
    worker_command = [sys.executable, "manage.py", "worker"]
    # A delivery whose handling the restart cut short is taken again REPLY_STALLED_AFTER later
    # (receiving.take_delivery): shortened here, as is the Graph timeout it must exceed.
    worker_env = server_environment(
        GRAPH_API_BASE_URL=fake_graph.base_url,
        GRAPH_API_TIMEOUT="2",
        REPLY_STALLED_AFTER="5",
        REPLY_SWEEP_INTERVAL="2",
    )
    with (
        web_server("gunicorn", tmp_path) as port,
        running(worker_command, tmp_path / "worker.log", worker_env) as worker,
        Senders(port) as senders,
    ):
        wait_until(lambda: len(senders.accepted()) >= 50, "nothing was accepted before")
        try:
            restart_database_server()
        finally:
            # The test's own connection died with the server.
            connection.close()
        accepted_before = len(senders.accepted())
        wait_until(
            lambda: len(senders.accepted()) >= accepted_before + 100,
            "the web processes did not recover from the restart",
        )
        senders.stop()
        assert worker.poll() is None, "the worker ended with the database restart"

        accepted = senders.accepted()
        # Every answer was a 200 (stored) or a 503 (Meta delivers it again): no 500, no
        # connection dropped without an answer.
        assert set(senders.answers.values()) <= {200, 503}
        assert accepted <= stored_mids()  # what was accepted stays accepted
        wait_until(
            lambda: not WebhookDelivery.objects.exclude(state="processed").exists(),
            "the worker did not handle every delivery after the restart",
        )
        stored_messages = set(Message.objects.filter(direction="in").values_list("mid", flat=True))
        assert accepted <= stored_messages
        # The task loop recovered too: the bot's replies went out (none left on their way).
        on_their_way = [Message.Status.QUEUED, Message.Status.SENDING]
        wait_until(
            lambda: not Message.objects.filter(direction="out", status__in=on_their_way).exists(),
            "the worker did not send the replies after the restart",
        )
        assert Message.objects.filter(direction="out", status=Message.Status.SENT).exists()
