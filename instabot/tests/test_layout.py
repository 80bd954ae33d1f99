"""What the layout promises: production processes never import the development tools, and the
worker is one command of our own."""

import os
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]

WHAT_PRODUCTION_RUNS = """
import sys
import django
django.setup()
import instabot.wsgi, instabot.urls, instabot.api_urls
import ops.management.commands.worker, ops.healthz
import ops.worker, ops.heartbeat
from django.core.management import get_commands
assert "bench" not in get_commands() and "fake_graph_api" not in get_commands()
loaded = sorted(name for name in sys.modules if name.split(".")[0] == "devtools")
print(",".join(loaded))
"""


def test_the_web_and_worker_processes_never_import_the_development_tools():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "instabot.settings",
        "DEVTOOLS": "off",
        "FAST_PASSWORD_HASHING": "off",
        "ENV_FILE": os.devnull,
    }
    done = subprocess.run(
        [sys.executable, "-c", WHAT_PRODUCTION_RUNS],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


def test_the_worker_says_what_it_runs():
    from ops.management.commands.worker import Command

    help_text = Command().create_parser("manage.py", "worker").format_help()
    text = " ".join(help_text.split())
    for part in ("pass loop", "task loop", "upkeep", "heartbeat", "TASKS_BACKEND", "--once"):
        assert part in text
