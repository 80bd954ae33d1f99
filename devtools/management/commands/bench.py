"""`manage.py bench`: measure webhook throughput, DM-to-reply latency, rule matching and memory
(devtools/bench/; docs/performance.md shows a full run)."""

import json
import os
from pathlib import Path

import environ
from django.core.management.base import BaseCommand, CommandError
from django.db import connections
from django.db.utils import load_backend

from devtools import bench as benchmark


class Command(BaseCommand):
    help = (
        "Start gunicorn and workers on a fresh database with a fake Graph API, and measure "
        "webhook throughput (beside a trivial view), DM-to-reply latency, rule matching and "
        "memory. Prints a table; --json writes every figure."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", dest="json_path", help="also write the figures here")
        parser.add_argument(
            "--quick", action="store_true", help="a short run (under a minute): a smoke check"
        )
        parser.add_argument(
            "--database-url",
            help="a MySQL/MariaDB or PostgreSQL database to run on, which the benchmark "
            "EMPTIES: its name must contain 'bench' (default: a new SQLite file)",
        )
        parser.add_argument(
            "--web-processes",
            type=int,
            default=int(os.environ.get("WEB_CONCURRENCY", 2 * (os.cpu_count() or 1) + 1)),
            help="gunicorn processes (default: WEB_CONCURRENCY, else 2 x cores + 1, as bin/serve)",
        )
        parser.add_argument(
            "--history-messages",
            type=int,
            help="messages loaded for the history phase (default 1,000,000; 2,000 with "
            "--quick); 0 leaves the phase out",
        )
        parser.add_argument(
            "--workers",
            type=int,
            help="worker processes (default: 1 on SQLite, whose single writer a second "
            "worker only waits on; 2 on MySQL/MariaDB or PostgreSQL)",
        )

    def handle(
        self, *, json_path, quick, database_url, web_processes, workers, history_messages, **options
    ):
        if database_url:
            database_url = self._emptied(database_url)
        if workers is None:
            workers = 2 if database_url else 1
        plan = benchmark.Plan.quick() if quick else benchmark.Plan.full()
        if history_messages is not None:
            plan.history_messages = history_messages
        log_dir = Path(json_path).resolve().parent if json_path else Path.cwd()
        self.stderr.write(f"Benchmarking (the service's log: {log_dir / 'bench-service.log'})…")
        report = benchmark.run(database_url, plan, web_processes, workers, log_dir)
        self.stdout.write(benchmark.table(report))
        if json_path:
            Path(json_path).write_text(json.dumps(report, indent=2) + "\n")

    def _emptied(self, url: str) -> str:
        """Drop and create the named database, so that every run starts from the same state."""
        config = environ.Env.db_url_config(url)
        name, engine = config["NAME"], config["ENGINE"]
        if "bench" not in name or "sqlite" in engine:
            raise CommandError(
                f"{name!r}: give a MySQL/MariaDB or PostgreSQL database named *bench*, which "
                "the benchmark empties (without --database-url it uses a new SQLite file)"
            )
        # Connected to the server's own database, not the one being dropped.
        server = {**connections["default"].settings_dict, "OPTIONS": {}, **config}
        server["NAME"] = "postgres" if "postgresql" in engine else ""
        wrapper = load_backend(engine).DatabaseWrapper(server, alias="bench_server")
        try:
            with wrapper.cursor() as cursor:
                quoted = wrapper.ops.quote_name(name)
                cursor.execute(f"DROP DATABASE IF EXISTS {quoted}")
                charset = " CHARACTER SET utf8mb4" if "mysql" in engine else ""
                cursor.execute(f"CREATE DATABASE {quoted}{charset}")
        finally:
            wrapper.close()
        return url
