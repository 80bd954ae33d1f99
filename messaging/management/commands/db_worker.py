"""`manage.py db_worker`: django-tasks-db's worker, plus instabot's periodic upkeep.

This command shadows django_tasks_db's own (messaging comes first in INSTALLED_APPS) and
takes all of its options. A worker that is killed leaves its task "running" forever and its
reply "sending"; the sweep is what puts such replies back to work (services.sweep_stalled_replies).
The same thread records the worker's heartbeat (for /healthz) and refreshes Instagram Login
tokens before they expire, hourly.
"""

import logging
import os
import socket
import threading
import time

from django.conf import settings
from django.db import connection
from django.utils.autoreload import DJANGO_AUTORELOAD_ENV
from django_tasks_db.management.commands import db_worker

from accounts.services import refresh_expiring_tokens
from messaging.models import WorkerHeartbeat
from messaging.services import sweep_stalled_replies

logger = logging.getLogger(__name__)

# Instagram Login tokens are checked for refreshing this often (they live 60 days).
TOKEN_REFRESH_INTERVAL = 3600


class Command(db_worker.Command):
    help = "Run the task worker (sends replies), sweeping stalled replies periodically."

    def handle(self, *args, **options):
        if options["batch"]:
            # One pass over the queue: sweep once first, so recovered replies are in it.
            _upkeep("Sweeping stalled replies", sweep_stalled_replies)
        elif not options["reload"] or os.environ.get(DJANGO_AUTORELOAD_ENV) == "true":
            # With --reload, only the child process that runs tasks sweeps.
            threading.Thread(target=_sweep_forever, name="reply-sweeper", daemon=True).start()
        super().handle(*args, **options)


def _sweep_forever() -> None:
    last_token_refresh = float("-inf")
    worker = f"{socket.gethostname()}:{os.getpid()}"
    while True:
        _upkeep("Recording the worker's heartbeat", WorkerHeartbeat.beat, worker)
        _upkeep("Sweeping stalled replies", sweep_stalled_replies)
        if time.monotonic() - last_token_refresh >= TOKEN_REFRESH_INTERVAL:
            _upkeep("Refreshing account tokens", refresh_expiring_tokens)
            last_token_refresh = time.monotonic()
        # This thread lives outside any request cycle: don't keep a connection that may go
        # stale (a database restart) between sweeps.
        connection.close()
        time.sleep(settings.REPLY_SWEEP_INTERVAL)


def _upkeep(what: str, step, *args) -> None:
    """Run one upkeep step. A failure (the database restarting, say) is logged and the step
    tried again at the next pass; it never stops the worker."""
    try:
        step(*args)
    except Exception:
        logger.exception("%s failed", what)
