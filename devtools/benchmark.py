"""`manage.py bench`: how fast the service does its job, beside the framework's own ceiling.

Starts the production server (gunicorn) and workers against a fresh database, with our fake
Graph API in this process, and measures from outside, over loopback, as Meta would:

1. webhook ingestion: signed single-message deliveries per second at several concurrencies,
   beside the same server's trivial view (/ping), and latency at a steady 200 deliveries/s;
2. DM-to-reply: from a delivery's POST to its Send API call reaching the fake Graph API;
3. rule matching: the compiled matcher with 10, 1,000 and 10,000 rules (in this process);
4. a viral post: a burst of matching comments, accepted at the webhook, and their private
   replies drained by the workers (devtools/comment_burst.py);
5. peak memory (RSS) of a web process and a worker.

Load is generated with asyncio over raw sockets: light enough that one process can outrun the
server, and the same generator serves both views, so their ratio is fair.
"""

import asyncio
import os
import platform
import random
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import django

from devtools.fake_graph import FakeGraphAPI
from devtools.simulation import message_delivery, signed_headers

BASE_DIR = Path(__file__).resolve().parent.parent
# The Instagram accounts the DMs come to. Meta lets one account send at most 100 messages a
# second, and the service holds every account to that (SEND_RATE_PER_SECOND). At 100 DMs/s to a
# single account the replies would queue at exactly the rate they may leave: the first hiccup
# would become a delay that never drains, whatever the service's own speed. So the DMs are
# spread over several accounts (25/s each at 100/s), as a deployment with that much traffic is.
ACCOUNT_IDS = tuple(f"1784140000000000{n}" for n in range(1, 5))
APP_SECRET = "bench-app-secret"  # noqa: S105 - throwaway, for a throwaway database
REPLY_TEXT = "Thanks! Your order is noted."
# Meta's 750 private replies an hour would make the burst last hours: the service (and the fake
# Graph API) run with the limit lifted, and the report gives the drain time under the real one.
LIFTED_PRIVATE_REPLIES_PER_HOUR = 1_000_000
WARM_UP_SECONDS = 1
# Webhook requests built before each closed-loop level starts, per second of the level: more
# than the server has answered on this machine (more are built on the fly if it outruns them).
PREPARED_PER_SECOND = 3000


@dataclass
class Plan:
    """How long each measurement runs: the full run, or --quick (a smoke check for CI)."""

    seconds_per_level: float
    concurrencies: tuple[int, ...]
    steady_seconds: float
    dm_rates: tuple[int, ...]
    dm_seconds: float
    rule_counts: tuple[int, ...] = (10, 1_000, 10_000)
    rule_messages: int = 2_000
    comments: int = 5_000  # the viral post's burst

    @classmethod
    def full(cls) -> "Plan":
        return cls(10, (1, 16, 64), 10, (20, 100), 30)

    @classmethod
    def quick(cls) -> "Plan":
        return cls(1, (1, 16, 64), 2, (20, 100), 2, rule_messages=300, comments=300)


@dataclass
class Latencies:
    samples_ms: list[float] = field(default_factory=list)
    errors: int = 0

    async def request(self, port: int, raw: bytes) -> None:
        """Send one request; record its latency if answered 200, else count an error."""
        started = time.monotonic()
        try:
            status = await _request(port, raw)
        except OSError:
            status = 0
        if status == 200:
            self.samples_ms.append((time.monotonic() - started) * 1000)
        else:
            self.errors += 1

    def percentile(self, p: float) -> float | None:
        if not self.samples_ms:
            return None
        ordered = sorted(self.samples_ms)
        return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))], 2)


# --- HTTP load ------------------------------------------------------------------------------


async def _request(port: int, raw: bytes) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        status_line = await reader.readline()
        await reader.read()  # gunicorn's sync workers close the connection after each answer
        return int(status_line.split()[1])
    finally:
        writer.close()


def _post(path: str, body: bytes, headers: dict) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()


class Deliveries:
    """Meta-shaped, signed, single-message deliveries, each with its own mid."""

    def __init__(self, customers: int = 1000, prefix: str = "9"):
        self.customers = customers
        self.prefix = prefix  # each phase its own customers, so replies match their own DMs
        self.count = 0
        self.sent_at: dict[str, list[float]] = {}  # customer -> POST times, oldest first

    def next(self) -> tuple[str, bytes]:
        self.count += 1
        number = self.count % self.customers
        customer = f"{self.prefix}{number:07d}"
        account_id = ACCOUNT_IDS[number % len(ACCOUNT_IDS)]  # a customer writes to one account
        body = message_delivery(
            account_id=account_id,
            sender_id=customer,
            recipient_id=account_id,
            text=f"Hi! I'd like to order #{self.count}",
            mid=f"bench-{secrets.token_hex(8)}-{self.count}",
        )
        return customer, _post("/webhooks/instagram", body, signed_headers(body, APP_SECRET))


async def _closed_loop(port, make_request, concurrency: int, seconds: float) -> dict:
    """`concurrency` clients, each sending its next request when the last is answered."""
    latencies = Latencies()
    deadline = time.monotonic() + seconds

    async def client():
        while time.monotonic() < deadline:
            await latencies.request(port, make_request())

    began = time.monotonic()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    elapsed = time.monotonic() - began
    return {
        "rps": round(len(latencies.samples_ms) / elapsed, 1),
        "p50_ms": latencies.percentile(50),
        "p99_ms": latencies.percentile(99),
        "errors": latencies.errors,
    }


async def _open_loop(port, deliveries: Deliveries, rate: float, seconds: float) -> dict:
    """Deliveries at a steady `rate` a second, whatever the answers take (as Meta sends)."""
    latencies = Latencies()
    tasks = []

    async def one(customer: str, raw: bytes):
        deliveries.sent_at.setdefault(customer, []).append(time.time())
        await latencies.request(port, raw)

    began = time.monotonic()
    for n in range(int(rate * seconds)):
        await asyncio.sleep(max(0.0, began + n / rate - time.monotonic()))
        tasks.append(asyncio.create_task(one(*deliveries.next())))
    await asyncio.gather(*tasks)
    return {
        "sent": len(tasks),
        "p50_ms": latencies.percentile(50),
        "p99_ms": latencies.percentile(99),
        "errors": latencies.errors,
    }


# --- processes ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Service:
    """gunicorn and the workers on a fresh database, talking to a fake Graph API."""

    def __init__(self, database_url: str, web_processes: int, workers: int, log_path: Path):
        self.fake = FakeGraphAPI().start()
        self.port = _free_port()
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
        self.workers = [
            subprocess.Popen(
                [sys.executable, "manage.py", "worker"],
                cwd=BASE_DIR,
                env=self.env,
                stdout=self.log,
                stderr=self.log,
            )
            for _ in range(workers)
        ]
        self._wait_until_serving()

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
                if asyncio.run(_request(self.port, _get("/ping"))) == 200:
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
        out = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", script],
            cwd=BASE_DIR,
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        )
        return int(out.stdout.strip().splitlines()[-1])

    def cpu_seconds(self) -> dict:
        """CPU time used so far by the web processes, the workers, and this process (the load
        generator and the fake Graph API)."""
        web = [self.web.pid, *_children(self.web.pid)]
        return {
            "web": sum(_cpu_seconds(pid) for pid in web),
            "workers": sum(_cpu_seconds(worker.pid) for worker in self.workers),
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
        web_children = _children(self.web.pid)
        return {
            "web": max((_peak_rss_mb(pid) for pid in web_children), default=None),
            "worker": max((_peak_rss_mb(w.pid) for w in self.workers), default=None),
        }

    def stop(self) -> None:
        for process in [self.web, *self.workers]:
            process.terminate()
        for process in [self.web, *self.workers]:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        self.fake.stop()
        self.log.close()


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process (0 where /proc cannot tell: not Linux, gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


# --- the measurements -----------------------------------------------------------------------


def _prepared(make_request, count: int):
    """`count` requests built before the clock starts, then more on demand. The load generator
    shares the CPU with the server: building a signed delivery during the level would charge
    the webhook for the generator's work (the /ping request is one constant)."""
    ready = iter([make_request() for _ in range(count)])
    return lambda: next(ready, None) or make_request()


def measure_webhook(service: Service, plan: Plan) -> dict:
    deliveries = Deliveries(prefix="1")
    trivial = _get("/ping")
    # A web process's first requests import and build what the later ones reuse: warm every
    # process up on both views before measuring either.
    for warm_up in (lambda: deliveries.next()[1], lambda: trivial):
        asyncio.run(_closed_loop(service.port, warm_up, 16, WARM_UP_SECONDS))
    result = {}
    for concurrency in plan.concurrencies:
        # Each level starts with the workers idle: none inherits the backlog of the one before.
        _wait_for_empty_backlog(service)
        requests = _prepared(
            lambda: deliveries.next()[1], int(PREPARED_PER_SECOND * plan.seconds_per_level)
        )
        webhook = service.measured(
            _closed_loop(service.port, requests, concurrency, plan.seconds_per_level)
        )
        baseline = service.measured(
            _closed_loop(service.port, lambda: trivial, concurrency, plan.seconds_per_level)
        )
        result[f"c{concurrency}"] = {"webhook": webhook, "trivial": baseline}
        result[f"ratio_to_trivial_c{concurrency}"] = (
            round(webhook["rps"] / baseline["rps"], 3) if baseline["rps"] else None
        )
    _wait_for_empty_backlog(service)
    steady = asyncio.run(_open_loop(service.port, deliveries, 200, plan.steady_seconds))
    result["at_200rps"] = steady
    result["p99_ms_at_200rps"] = steady["p99_ms"]
    return result


def measure_dm_to_reply(service: Service, plan: Plan) -> dict:
    result = {}
    for phase, rate in enumerate(plan.dm_rates, start=2):
        # Start from an idle service: the webhook phase leaves thousands of DMs to answer.
        _wait_for_empty_backlog(service)
        service.fake.reset()
        deliveries = Deliveries(customers=max(1000, int(rate * plan.dm_seconds)), prefix=str(phase))
        load = service.measured(_open_loop(service.port, deliveries, rate, plan.dm_seconds))
        backlog_end = service.backlog()
        # Let the last replies arrive, so that each DM's latency is known.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(_sends(service)) < load["sent"]:
            time.sleep(0.2)
        latencies = _reply_latencies(deliveries, _sends(service))
        result[f"at_{rate}rps"] = {
            "sent": load["sent"],
            "answered": len(latencies.samples_ms),
            "p50_ms": latencies.percentile(50),
            "p99_ms": latencies.percentile(99),
            "max_ms": round(max(latencies.samples_ms), 2) if latencies.samples_ms else None,
            "backlog_end": backlog_end,
            "webhook_errors": load["errors"],
            "cpu_percent": load["cpu_percent"],
        }
    top = result[f"at_{max(plan.dm_rates)}rps"]
    result["accounts"] = len(ACCOUNT_IDS)
    result.update(p50_ms=top["p50_ms"], p99_ms=top["p99_ms"], backlog_end=top["backlog_end"])
    return result


def _sends(service: Service) -> list[dict]:
    """The DMs sent: not the comment replies, whose calls carry a "kind" (and public replies
    no recipient)."""
    return [call for call in service.fake.calls if call["outcome"] == "sent" and "kind" not in call]


def _reply_latencies(deliveries: Deliveries, sends: list[dict]) -> Latencies:
    """Each customer's replies answer their DMs in order (a customer's DMs are seconds apart)."""
    latencies = Latencies()
    pending = {customer: list(times) for customer, times in deliveries.sent_at.items()}
    for call in sorted(sends, key=lambda c: c["received_at"]):
        waiting = pending.get(call["recipient_id"])
        if waiting:  # else a reply to an earlier phase's DM
            latencies.samples_ms.append((call["received_at"] - waiting.pop(0)) * 1000)
    return latencies


def _wait_for_empty_backlog(service: Service, seconds: float = 900) -> None:
    """Until the workers are idle: no delivery, reply or task of an earlier phase left."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and service.backlog(with_tasks=True):
        time.sleep(0.5)


def measure_comment_burst(service: Service, plan: Plan) -> dict:
    """The viral post: `plan.comments` matching comments on one post of the first account."""
    from devtools.comment_burst import measure_comment_burst as burst  # it imports this module

    _wait_for_empty_backlog(service)  # from an idle service, as the DM phases
    service.fake.reset()
    service.fake.comments.per_hour = LIFTED_PRIVATE_REPLIES_PER_HOUR  # Meta's, lifted as ours
    return burst(
        service.port,
        service.fake,
        account_id=ACCOUNT_IDS[0],
        app_secret=APP_SECRET,
        comments=plan.comments,
    )


def measure_rules(plan: Plan) -> dict:
    from rules.matching import Matcher, RuleSpec

    randomness = random.Random(7)
    vocabulary = [f"word{n}" for n in range(50_000)]
    created = datetime(2026, 1, 1, tzinfo=UTC)
    result = {}
    for count in plan.rule_counts:
        kinds = ("contains", "word", "starts_with", "exact")
        rules = [
            RuleSpec(
                id=n,
                keywords=tuple(randomness.sample(vocabulary, 3)),
                match_type=kinds[n % 4],
                priority=n % 5,
                created_at=created + timedelta(seconds=n),
                response_text=f"reply {n}",
            )
            for n in range(count)
        ]
        built = time.perf_counter()
        matcher = Matcher(rules)
        build_ms = (time.perf_counter() - built) * 1000
        messages = [
            " ".join(randomness.choices(vocabulary, k=randomness.randint(3, 30)))
            for _ in range(plan.rule_messages)
        ]
        timings = []
        for text in messages:
            started = time.perf_counter()
            matcher.match(text)
            timings.append((time.perf_counter() - started) * 1000)
        samples = Latencies(timings)
        result[f"median_ms_{count}"] = round(statistics.median(timings), 4)
        result[f"p99_ms_{count}"] = samples.percentile(99)
        result[f"build_ms_{count}"] = round(build_ms, 1)
    return result


def machine(database_url: str) -> dict:
    return {
        "cores": os.cpu_count(),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "database": database_url.split(":", 1)[0],
        "os": platform.platform(),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def run(
    database_url: str | None, plan: Plan, web_processes: int, workers: int, log_dir: Path
) -> dict:
    with tempfile.TemporaryDirectory(prefix="instabot-bench-") as scratch:
        url = database_url or f"sqlite:///{scratch}/bench.sqlite3"
        service = Service(url, web_processes, workers, log_dir / "bench-service.log")
        try:
            report = {
                "machine": {**machine(url), "web_processes": web_processes, "workers": workers},
                "webhook": measure_webhook(service, plan),
                "dm_to_reply": measure_dm_to_reply(service, plan),
                "comment_burst": measure_comment_burst(service, plan),
            }
            report["rss_mb"] = service.peak_rss_mb()
        finally:
            service.stop()
    report["rules"] = measure_rules(plan)
    return report


def table(report: dict) -> str:
    webhook, dm, rules = report["webhook"], report["dm_to_reply"], report["rules"]
    lines = ["Webhook ingestion (requests/s; latency p50/p99 ms)"]
    for key in (k for k in webhook if k.startswith("c") and k[1:].isdigit()):
        hook, base = webhook[key]["webhook"], webhook[key]["trivial"]
        lines.append(
            f"  {key:>4}  webhook {hook['rps']:>7}/s ({hook['p50_ms']}/{hook['p99_ms']})"
            f"   trivial {base['rps']:>7}/s ({base['p50_ms']}/{base['p99_ms']})"
            f"   ratio {webhook[f'ratio_to_trivial_{key}']}"
            f"   errors {hook['errors'] + base['errors']}"
        )
        lines.append(
            f"        CPU ms per request: webhook {_cpu_ms_per_request(hook)}, "
            f"trivial {_cpu_ms_per_request(base)}"
        )
    steady = webhook["at_200rps"]
    lines.append(
        f"  at 200 deliveries/s: p50 {steady['p50_ms']} ms, p99 {steady['p99_ms']} ms, "
        f"errors {steady['errors']}"
    )
    lines.append(
        "DM to reply (POST -> Send API call at the fake Graph API; "
        f"DMs spread over {dm['accounts']} accounts)"
    )
    for key in (k for k in dm if k.startswith("at_")):
        row = dm[key]
        lines.append(
            f"  {key[3:]:>7}  p50 {row['p50_ms']} ms, p99 {row['p99_ms']} ms, "
            f"max {row['max_ms']} ms; {row['answered']}/{row['sent']} answered; "
            f"backlog at the end {row['backlog_end']}"
        )
        lines.append(f"           CPU, % of a core: {_cpu_shares(row['cpu_percent'])}")
    burst = report["comment_burst"]
    lines.append(
        f"Viral post ({burst['comments']} matching comments; private replies under a lifted "
        "hourly limit)"
    )
    lines.append(
        f"  webhook {burst['accepted_per_second']} comments/s (p99 {burst['webhook_p99_ms']} ms, "
        f"errors {burst['webhook_errors']}); replies drained "
        f"{burst['private_replies_per_second']}/s ({burst['private_replies_sent']} sent in "
        f"{burst['drain_seconds']} s)"
    )
    lines.append(f"  at Meta's 750 an hour: {burst['hours_to_drain_at_limit']} h to drain")
    lines.append("Rule matching (ms per message)")
    for count in (10, 1_000, 10_000):
        if f"median_ms_{count}" in rules:
            lines.append(
                f"  {count:>6} rules  median {rules[f'median_ms_{count}']}, "
                f"p99 {rules[f'p99_ms_{count}']}, build {rules[f'build_ms_{count}']}"
            )
    rss = report["rss_mb"]
    lines.append(f"Peak RSS: web process {rss['web']} MB, worker {rss['worker']} MB")
    m = report["machine"]
    lines.append(
        f"Machine: {m['cores']} cores ({m['cpu']}), Python {m['python']}, Django {m['django']}, "
        f"{m['database']}; {m['web_processes']} web processes, {m['workers']} workers"
    )
    return "\n".join(lines)


def _cpu_shares(cpu_percent: dict) -> str:
    return ", ".join(f"{group} {share}" for group, share in cpu_percent.items())


def _cpu_ms_per_request(result: dict) -> str:
    """Each group's CPU per answered request (web / workers / load generator and fake)."""
    if not result["rps"]:
        return "-"
    return " / ".join(
        f"{share * 10 / result['rps']:.2f}" for share in result["cpu_percent"].values()
    )
