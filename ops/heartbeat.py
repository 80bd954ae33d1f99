"""The worker's heartbeat, in a thread of its own beside the task loop and the pass loop:
every WORKER_HEARTBEAT_INTERVAL the worker's sign of life, then the recovery of the work of
workers whose heartbeat stopped (recovery.recover_work_of_dead_workers). The rest of the
upkeep (sweeps, pruning, token refresh, reconciliation) is part of every worker pass
(messaging.worker_pass).

Every live worker recovers the dead ones' work: several doing it at once is by design (each
change is a conditional UPDATE), not a race. It runs here, right after an on-time beat of this
worker's own, and not in the pass: a late beat of our own means the others' were likely held
too, and they are not judged then.
"""

import logging
import threading
import time

from django.conf import settings
from django.db import close_old_connections, connection

from messaging.models import WorkerHeartbeat
from messaging.recovery import recover_work_of_dead_workers
from messaging.worker_identity import this_worker

logger = logging.getLogger(__name__)


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


def _step(what: str, step, *args) -> None:
    """Run one step. A failure (the database restarting, say) is logged and the step
    tried again at the next pass; it never stops the worker."""
    try:
        step(*args)
    except Exception:
        logger.exception("%s failed", what)
