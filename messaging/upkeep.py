"""The worker's periodic upkeep, whatever the queue backend, in two threads beside its task
loop (`manage.py worker`):

Heartbeat  every WORKER_HEARTBEAT_INTERVAL: the worker's sign of life, then the recovery of
           the work of workers whose heartbeat stopped (recovery.recover_work_of_dead_workers).
upkeep     every REPLY_SWEEP_INTERVAL: the sweeps that put back what waited far too long (the
           backstop), the pruning of old raw deliveries (RAW_DELIVERY_RETENTION_DAYS), and the
           Instagram token refresh.

Every live worker recovers the dead ones' work: several doing it at once is by design (each
change is a conditional UPDATE), not a race.
"""

import logging
import os
import threading
import time

from django.conf import settings
from django.db import close_old_connections, connection

from accounts.services import refresh_expiring_tokens
from history import upkeep as history_upkeep
from messaging.models import WorkerHeartbeat
from messaging.recovery import (
    recover_work_of_dead_workers,
    sweep_deliveries_waiting_for_credentials,
    sweep_stalled_deliveries,
    sweep_stalled_sends,
)
from messaging.retention import prune_raw_deliveries
from messaging.worker_identity import this_worker

logger = logging.getLogger(__name__)

# Instagram Login tokens are checked for refreshing this often (they live 60 days).
TOKEN_REFRESH_INTERVAL = 3600


class Heartbeat(threading.Thread):
    """Beats, then recovers the dead workers' work, every WORKER_HEARTBEAT_INTERVAL.

    A thread of its own: a slow sweep or token refresh (the Graph API timing out) never
    delays a beat, and a late beat would make the other workers take this one for dead.
    """

    def __init__(self):
        super().__init__(name="worker-heartbeat", daemon=True)
        self.worker = this_worker()
        self.stopping = threading.Event()
        self._last_beat: float | None = None  # time.monotonic() when the last beat was stored

    def beat(self) -> None:
        """One beat, then the recovery; also run once before the worker takes any work, so
        that whatever it claims belongs to a worker with a heartbeat."""
        started = time.monotonic()
        try:
            known_alive = WorkerHeartbeat.beat(self.worker)
        except Exception:
            # The database restarting, say. A worker that cannot beat judges no other.
            logger.exception("Recording the worker's heartbeat failed")
            return
        if not known_alive and self._last_beat is not None:
            logger.error(
                "Worker %s was taken for dead (no heartbeat for WORKER_DEAD_AFTER = %g s): the "
                "work it held was given to others, and a reply in flight may go out twice. "
                "Raise WORKER_DEAD_AFTER if this happens again.",
                self.worker,
                settings.WORKER_DEAD_AFTER,
            )
        stored = time.monotonic()
        previous, self._last_beat = self._last_beat, stored
        # Our own beat was late (held by a locked database, the machine suspended): the other
        # workers' beats were likely held too. Judged now they would look dead; next time not.
        late = stored - started > settings.WORKER_HEARTBEAT_INTERVAL or (
            previous is not None and stored - previous > settings.WORKER_DEAD_AFTER / 2
        )
        if late:
            logger.warning(
                "Worker %s: its own heartbeat was late; judging the other workers next time",
                self.worker,
            )
            return
        _step("Recovering the work of dead workers", recover_work_of_dead_workers)

    def run(self) -> None:
        try:
            while not self.stopping.wait(settings.WORKER_HEARTBEAT_INTERVAL):
                # Outside a request cycle nothing else closes a connection that died (a
                # database restart) or outlived CONN_MAX_AGE.
                close_old_connections()
                self.beat()
        finally:
            connection.close()

    def stop(self) -> None:
        """A graceful stop, once the worker holds no more work: beat no more, and say so (a
        worker that stopped is not one that died)."""
        self.stopping.set()
        if self.is_alive():
            self.join()
        _step("Removing the worker's heartbeat", WorkerHeartbeat.forget, self.worker)


def start_heartbeat() -> Heartbeat:
    heartbeat = Heartbeat()
    heartbeat.beat()
    heartbeat.start()
    return heartbeat


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
    _step("Recovering the work of dead workers", recover_work_of_dead_workers)
    _step("Sweeping stalled deliveries", sweep_stalled_deliveries)
    _step("Sweeping deliveries waiting for credentials", sweep_deliveries_waiting_for_credentials)
    _step("Sweeping stalled sends", sweep_stalled_sends)


def run_forever() -> None:
    last_token_refresh = float("-inf")
    while True:
        _step("Sweeping stalled deliveries", sweep_stalled_deliveries)
        _step(
            "Sweeping deliveries waiting for credentials", sweep_deliveries_waiting_for_credentials
        )
        _step("Sweeping stalled sends", sweep_stalled_sends)
        _step("Importing history and reconciling with Meta", history_upkeep.run)
        _step("Pruning old raw deliveries", prune_raw_deliveries)
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
