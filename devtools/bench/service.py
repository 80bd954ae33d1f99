"""The service under measurement: gunicorn and `manage.py worker`s on a fresh database, talking
to the fake Graph API in the bench's process; and the CPU each group of processes uses, read
from /proc (Linux)."""

import asyncio
import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import environ

from devtools.bench.load import get_request, request_status
from devtools.bench.plan import (
    ACCOUNT_IDS,
    APP_SECRET,
    BASE_DIR,
    LIFTED_PRIVATE_REPLIES_PER_HOUR,
    REPLY_TEXT,
)
from devtools.fake_graph import FakeGraphAPI


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Service:
    """gunicorn and the workers on a fresh database, talking to a fake Graph API."""

    def __init__(self, database_url: str, web_processes: int, workers: int, log_path: Path):
        # Its Conversations API answers for the four accounts (their reconciliation).
        self.fake = FakeGraphAPI(account_ids=ACCOUNT_IDS).start()
        self.port = free_port()
        self.env = {
            **os.environ,
            "ENV_FILE": os.devnull,
            "DEBUG": "off",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "FACEBOOK_APP_SECRET": APP_SECRET,
            "INSTAGRAM_PAGE_ACCESS_TOKEN": "bench-page-token",
            "FIELD_ENCRYPTION_KEY": "ZGV2ZWxvcG1lbnQtb25seS1rZXktMzItYnl0ZXMhISE=",
            "DATABASE_URL": database_url,
            "GRAPH_API_BASE_URL": self.fake.base_url,
            "SECURE_SSL_REDIRECT": "off",
            "ALLOWED_HOSTS": "127.0.0.1",
            "LOG_LEVEL": "WARNING",
            "TASKS_BACKEND": "django_tasks_db.DatabaseBackend",
            "COMMENT_PRIVATE_REPLIES_PER_HOUR": str(LIFTED_PRIVATE_REPLIES_PER_HOUR),
        }
        self.log = log_path.open("w")
        self._manage("migrate", "--no-input")
        self.database = DatabaseServerCPU(database_url)
        from devtools.comment_burst import COMMENT_RULE  # it imports this module

        self._manage(
            "shell",
            "-c",
            "from rules.models import ResponseRule\n"
            "from accounts.models import InstagramBusinessAccount\n"
            "from comments.models import CommentRule\n"
            f"ResponseRule.objects.create(keywords='order', response_text={REPLY_TEXT!r})\n"
            f"CommentRule.objects.create(**{COMMENT_RULE!r})\n"
            f"for instagram_id in {ACCOUNT_IDS!r}:\n"
            "    account = InstagramBusinessAccount(instagram_id=instagram_id, name='Shop')\n"
            "    account.set_access_token('bench-page-token')\n"
            "    account.save()\n",
        )
        self.web = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("gunicorn")),
                "instabot.wsgi",
                "--workers",
                str(web_processes),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--log-level",
                "warning",
            ],
            cwd=BASE_DIR,
            env=self.env,
            stdout=self.log,
            stderr=self.log,
        )
        self.workers = self._start_workers(workers)
        self._wait_until_serving()

    def _start_workers(self, count: int) -> list[subprocess.Popen]:
        return [
            subprocess.Popen(
                [sys.executable, "manage.py", "worker"],
                cwd=BASE_DIR,
                env=self.env,
                stdout=self.log,
                stderr=self.log,
            )
            for _ in range(count)
        ]

    @contextlib.contextmanager
    def workers_stopped(self):
        """The workers stopped as a deployment stops them (SIGTERM: each finishes its pass and
        leaves), then new ones started once the block ends: for a measure of the web processes
        alone. CPU figures never span it: a new worker's CPU starts from zero."""
        _stop(self.workers)
        try:
            yield
        finally:
            self.workers = self._start_workers(len(self.workers))

    def shell(self, script: str, timeout: float | None = None) -> str:
        """Run `script` in `manage.py shell` against the service's database; its output."""
        out = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", script],
            cwd=BASE_DIR,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if out.returncode:
            raise RuntimeError(f"manage.py shell failed:\n{out.stderr[-3000:]}")
        return out.stdout

    def _manage(self, *args: str) -> None:
        subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=BASE_DIR,
            env=self.env,
            stdout=self.log,
            stderr=self.log,
            check=True,
        )

    def _wait_until_serving(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if asyncio.run(request_status(self.port, get_request("/ping"))) == 200:
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("gunicorn did not start; see the benchmark's log")

    def backlog(self, with_tasks: bool = False) -> int:
        """Deliveries not yet handled plus replies not yet sent, read from the database;
        `with_tasks`: plus every task due and every username not yet fetched (the workers'
        low-priority work)."""
        script = (
            "from messaging.models import Conversation as C, Message, WebhookDelivery as D; "
            "from django_tasks_db.models import DBTaskResult as T; "
            "print(D.objects.filter(state__in=['received', 'processing']).count() "
            "+ Message.objects.filter(status__in=['queued', 'sending']).count()"
            + (
                " + T.objects.ready().count()"
                " + C.objects.filter(profile_requested_at__isnull=True).count())"
                if with_tasks
                else ")"
            )
        )
        return int(self.shell(script).strip().splitlines()[-1])

    def cpu_seconds(self) -> dict:
        """CPU time used so far by the web processes, the workers, the database server's
        processes serving the bench's database (PostgreSQL, MariaDB; SQLite runs inside the
        others), and this process (the load generator and the fake Graph API)."""
        web = [self.web.pid, *children(self.web.pid)]
        return {
            "web": sum(cpu_seconds_of(pid) for pid in web),
            "workers": sum(cpu_seconds_of(worker.pid) for worker in self.workers),
            "database": self.database.cpu_seconds(),
            "load_and_fake_graph": sum(os.times()[:2]),
        }

    def measured(self, load) -> dict:
        """Run `load` (a coroutine returning a dict of figures) and add the share of a core
        each group of processes used meanwhile, as `cpu_percent`: what limited the load."""
        before, started = self.cpu_seconds(), time.monotonic()
        result = asyncio.run(load)
        elapsed, after = time.monotonic() - started, self.cpu_seconds()
        result["cpu_percent"] = {
            group: round(100 * (after[group] - before[group]) / elapsed) for group in before
        }
        return result

    def peak_rss_mb(self) -> dict:
        web_children = children(self.web.pid)
        return {
            "web": max((peak_rss_mb_of(pid) for pid in web_children), default=None),
            "worker": max((peak_rss_mb_of(w.pid) for w in self.workers), default=None),
        }

    def stop(self) -> None:
        _stop([self.web, *self.workers])
        self.fake.stop()
        self.database.close()
        self.log.close()


def _stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def cpu_seconds_of(pid: int, tid: int | None = None) -> float:
    """User and system CPU time of a process, or of one of its threads (0 where /proc cannot
    tell: not Linux, gone)."""
    path = f"/proc/{pid}/task/{tid}/stat" if tid not in (None, pid) else f"/proc/{pid}/stat"
    try:
        fields = Path(path).read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb_of(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


class DatabaseServerCPU:
    """CPU used by the database server for the bench's database: PostgreSQL's backend
    processes connected to it (pg_stat_activity), MariaDB's threads serving it
    (performance_schema, where it is on). The server must run on this machine; on SQLite, or
    where the server cannot tell, it reports 0 (the figure then leaves the server out).

    Backends come and go: each is counted from its first sighting (or from 0 when first seen
    at the end of a measurement); the server's shared processes (WAL writer, checkpointer)
    are left out.
    """

    def __init__(self, database_url: str):
        config = environ.Env.db_url_config(database_url)
        self.engine, self.name = config["ENGINE"], config["NAME"]
        self.config = config
        self._connection = None
        self._last: dict[int, float] = {}  # os thread or process id -> CPU seconds seen last
        self._total = 0.0
        self.measured = "postgresql" in self.engine or "mysql" in self.engine

    def _ids(self) -> list[tuple[int, int]]:
        """(pid, tid) of the server's processes or threads serving the bench's database."""
        if "postgresql" in self.engine:
            import psycopg

            if self._connection is None:
                self._connection = psycopg.connect(
                    dbname="postgres",
                    user=self.config["USER"] or None,
                    password=self.config["PASSWORD"] or None,
                    host=self.config["HOST"] or None,
                    port=self.config["PORT"] or None,
                    autocommit=True,
                )
            rows = self._connection.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                [self.name],
            ).fetchall()
            return [(pid, pid) for (pid,) in rows]
        if "mysql" in self.engine:
            import MySQLdb

            if self._connection is None:
                self._connection = MySQLdb.connect(
                    user=self.config["USER"] or "root",
                    passwd=self.config["PASSWORD"] or "",
                    host=self.config["HOST"] or "127.0.0.1",
                    port=int(self.config["PORT"] or 3306),
                    autocommit=True,
                )
            cursor = self._connection.cursor()
            try:
                cursor.execute(
                    "SELECT THREAD_OS_ID FROM performance_schema.threads "
                    "WHERE PROCESSLIST_DB = %s AND THREAD_OS_ID IS NOT NULL",
                    [self.name],
                )
                tids = [row[0] for row in cursor.fetchall()]
            except Exception:
                self.measured = False
                return []
            server = _mysqld_pid()
            return [(server, tid) for tid in tids] if server else []
        return []

    def cpu_seconds(self) -> float:
        """The server's CPU for the bench's database so far (a running total)."""
        if not self.measured:
            return 0.0
        try:
            ids = self._ids()
        except Exception:
            self.measured = False
            return 0.0
        for pid, tid in ids:
            now = cpu_seconds_of(pid, tid)
            self._total += max(0.0, now - self._last.get(tid, 0.0))
            self._last[tid] = now
        return self._total

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def _mysqld_pid() -> int | None:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in ("mariadbd", "mysqld"):
                    return int(entry.name)
            except OSError:
                continue
    return None
