"""`manage.py bench --quick` runs end to end and reports every figure. A smoke check: timings
are what the benchmark is for, and a test never asserts one (docs/performance.md)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

BASE_DIR = Path(__file__).resolve().parents[2]

FIGURES = [
    ("webhook", "ratio_to_trivial_c16"),
    ("webhook", "ratio_to_trivial_c16_workers_stopped"),
    ("webhook", "p99_ms_at_200rps"),
    ("dm_to_reply", "p50_ms"),
    ("dm_to_reply", "p99_ms"),
    ("dm_to_reply", "backlog_end"),
    ("floor", "cpu_ms_per_dm"),
    ("dm_to_reply", "cpu_ms_per_dm"),
    ("dm_to_reply", "ratio_to_floor"),
    ("dm_to_reply", "cpu_ms_per_dm_busy"),
    ("dm_to_reply", "ratio_to_floor_busy_new"),
    ("dm_to_reply", "capacity_rps"),
    ("dm_to_reply", "trivial_rps_c16"),
    ("history", "load_seconds"),
    ("history", "webhook_p99_ms_at_200rps"),
    ("history", "staff_p99_ms_max"),
    ("comment_burst", "accepted_per_second"),
    ("comment_burst", "private_replies_per_second"),
    ("comment_burst", "hours_to_drain_at_limit"),
    ("rules", "median_ms_10000"),
    ("rules", "p99_ms_10000"),
    ("rss_mb", "web"),
    ("rss_mb", "worker"),
]


@pytest.mark.slow  # about four minutes of load
@pytest.mark.skipif(
    connection.vendor != "sqlite",
    reason="the benchmark makes its own SQLite database: once is enough",
)
def test_the_quick_benchmark_reports_every_figure(tmp_path):
    report_path = tmp_path / "bench.json"
    env = {**os.environ, "ENV_FILE": os.devnull, "DEBUG": "on"}
    finished = subprocess.run(
        [sys.executable, "manage.py", "bench", "--quick", "--json", str(report_path)],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    report = json.loads(report_path.read_text())
    for section, figure in FIGURES:
        assert isinstance(report[section][figure], int | float), (section, figure)
    # What limited each phase: the CPU each group of processes used meanwhile.
    for phase in (report["webhook"]["c16"]["webhook"], report["dm_to_reply"]["at_100rps"]):
        assert set(phase["cpu_percent"]) == {"web", "workers", "database", "load_and_fake_graph"}
        assert all(isinstance(share, int) for share in phase["cpu_percent"].values())
    # The goal's level again, the web processes alone: the workers stopped, then back at work.
    assert report["webhook"]["c16_workers_stopped"]["webhook"]["cpu_percent"]["workers"] == 0
    assert report["machine"]["cores"] >= 1
    assert report["machine"]["database"] == "sqlite"
    assert {"python", "django"} <= report["machine"].keys()
    # The viral post: every comment accepted and privately answered, none twice.
    burst = report["comment_burst"]
    assert burst["webhook_errors"] == 0
    assert burst["private_replies_sent"] == burst["comments"] > 0
    # The staff side at the history's size: each page timed, with its queries.
    staff = report["history"]["staff"]
    for page in ("inbox_list", "long_thread", "api_conversations", "api_messages", "dashboard_90d"):
        assert staff[page]["queries"] > 0, page
    assert report["history"]["staff"]["messages"] >= 2_000
    assert "Webhook ingestion" in finished.stdout  # the table
    assert "Viral post" in finished.stdout


def test_the_benchmark_refuses_to_empty_a_database_not_named_for_it():
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="named \\*bench\\*"):
        call_command("bench", database_url="mysql://root@127.0.0.1:3306/instabot")
