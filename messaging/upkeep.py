"""The worker's periodic upkeep, whatever the queue backend: the worker's heartbeat (for
/healthz), the sweeps that put stalled deliveries and replies back in the queue, the Instagram
token refresh.

`manage.py worker` runs it in a thread beside its task loop. A worker that is killed leaves its
reply "sending"; the sweep of any live worker is what recovers it
(recovery.sweep_stalled_replies), so several workers sweeping is by design, not a race.
"""

import logging
import os
import socket
import threading
import time

from django.conf import settings
from django.db import connection

from accounts.services import refresh_expiring_tokens
from history import upkeep as history_upkeep
from messaging.models import WorkerHeartbeat
from messaging.recovery import sweep_stalled_deliveries, sweep_stalled_replies

logger = logging.getLogger(__name__)

# Instagram Login tokens are checked for refreshing this often (they live 60 days).
TOKEN_REFRESH_INTERVAL = 3600


def start_in_background() -> threading.Thread:
    thread = threading.Thread(target=run_forever, name="worker-upkeep", daemon=True)
    thread.start()
    return thread


def lower_cpu_priority() -> None:
    """Let the web processes on this machine go first (WORKER_NICENESS).

    The webhook must answer Meta at once, whatever the load; a reply can wait a little. When
    the CPU is not all taken this changes nothing: the worker gets every cycle left over.
    """
    if settings.WORKER_NICENESS > 0:
        os.nice(settings.WORKER_NICENESS)


def run_once() -> None:
    """Before a one-pass (--batch, --burst) worker run: recovered work joins that pass."""
    _step("Sweeping stalled deliveries", sweep_stalled_deliveries)
    _step("Sweeping stalled replies", sweep_stalled_replies)


def run_forever() -> None:
    last_token_refresh = float("-inf")
    worker = f"{socket.gethostname()}:{os.getpid()}"
    while True:
        _step("Recording the worker's heartbeat", WorkerHeartbeat.beat, worker)
        _step("Sweeping stalled deliveries", sweep_stalled_deliveries)
        _step("Sweeping stalled replies", sweep_stalled_replies)
        _step("Importing history and reconciling with Meta", history_upkeep.run)
        if time.monotonic() - last_token_refresh >= TOKEN_REFRESH_INTERVAL:
            _step("Refreshing account tokens", refresh_expiring_tokens)
            last_token_refresh = time.monotonic()
        # This thread lives outside any request cycle: don't keep a connection that may go
        # stale (a database restart) between sweeps.
        connection.close()
        time.sleep(settings.REPLY_SWEEP_INTERVAL)


def _step(what: str, step, *args) -> None:
    """Run one upkeep step. A failure (the database restarting, say) is logged and the step
    tried again at the next pass; it never stops the worker."""
    try:
        step(*args)
    except Exception:
        logger.exception("%s failed", what)
