"""The worker process around its task loop (`manage.py worker`): the pass loop and the heartbeat.

Every pass is messaging.worker_pass.run_pass: deliveries, due sends, due upkeep, the fetches
that can wait. A one-pass worker (--once, RQ's --burst) runs passes until one finds nothing;
the long-running worker runs them in a thread for as long as its task loop runs, sleeping
between idle passes until a delivery is announced or a backoff ends (ops.doorbell).

Threads, and why each stays:
  main          the task loop (django-tasks' database worker, or RQ's): a blocking loop of the
                queue library's own; staff replies, retries and later parts run there until
                the one outbox sends them from the pass.
  worker-pass   the pass loop: it must go on while the task loop blocks.
  heartbeat     the sign of life, then the recovery of dead workers' work (ops.heartbeat): a
                slow pass (a Graph call timing out) must never delay a beat, or the other
                workers would take this one for dead.
"""

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import close_old_connections, connection

from messaging.recovery import recover_work_of_dead_workers
from messaging.worker_pass import (
    IDLE_STAGE_EVERY,
    Schedule,
    run_pass,
    run_until_nothing_is_left,
    settle_running_work,
    work_look_every,
)
from ops.doorbell import doorbell_for_this_database
from ops.heartbeat import start_heartbeat

logger = logging.getLogger(__name__)

# Seconds the loop waits after a failed pass (the database restarting, say), so that an outage
# is one log line every few seconds, not ten a second.
PAUSE_AFTER_FAILURE = 5.0


class PassLoop(threading.Thread):
    def __init__(self):
        # A daemon: a worker forced to quit (a second Ctrl+C) is not held up by it; a delivery
        # cut short is swept back into the queue.
        super().__init__(name="worker-pass", daemon=True)
        self.stopping = threading.Event()
        # This process's upkeep clock (all due at start); the idle stage at most once a second;
        # the resting looks (the outbox's, the assistant's), once they found nothing, at most
        # every WORKER_POLL_INTERVAL unless this process stored work for them.
        self.schedule = Schedule(idle_every=IDLE_STAGE_EVERY, rest=work_look_every)

    def run(self) -> None:
        doorbell = doorbell_for_this_database(self.stopping)
        try:
            while not self.stopping.is_set():
                # Outside a request cycle nothing else closes a connection that died (a
                # database restart) or outlived CONN_MAX_AGE.
                close_old_connections()
                result = run_pass(self.schedule)
                if result.failed:
                    # Each failure was logged; work claimed meanwhile is swept back.
                    logger.error(
                        "The worker's pass failed (%s); trying again in %.0f s",
                        ", ".join(name for name, _ in result.failures),
                        PAUSE_AFTER_FAILURE,
                    )
                    self.stopping.wait(PAUSE_AFTER_FAILURE)
                elif result.done:
                    doorbell.rung()
                else:
                    # Idle: sleep until a delivery is announced (PostgreSQL) or a backoff ends,
                    # at most until a resting step skipped meanwhile is asked again.
                    doorbell.wait(at_most=self.schedule.rest_ends_in())
        finally:
            # Sends still under way in the background (the outbox's sends that call no Meta):
            # answered or given up within twice their timeout (safe_urls.post), recorded, so
            # that none goes out twice.
            settle_running_work()
            doorbell.close()
            connection.close()


@contextmanager
def pass_loop_beside_tasks() -> Iterator[PassLoop]:
    """Run the pass loop while the caller runs its task loop. When the task loop ends (a
    graceful shutdown: SIGTERM, Ctrl+C), the pass in hand is finished before the worker
    exits; the loop starts no new one."""
    loop = PassLoop()
    loop.start()
    try:
        yield loop
    finally:
        loop.stopping.set()
        loop.join()


@contextmanager
def beside_the_task_loop(one_pass: bool) -> Iterator[None]:
    """What `manage.py worker` runs around the task loop.

    One pass (--once, --burst): the dead workers' work taken back (no heartbeat thread does it
    here), then passes until nothing is left, before the tasks that are due. Otherwise: a
    lower CPU priority, then the heartbeat and the pass loop in threads for as long as the
    task loop runs; the heartbeat beats first (a claim belongs to a worker with a heartbeat)
    and stops last, once the pass in hand is finished.
    """
    if one_pass:
        try:
            recover_work_of_dead_workers()
        except Exception:
            logger.exception("Recovering the work of dead workers failed")
        run_until_nothing_is_left()
        yield
        return
    lower_cpu_priority()
    heartbeat = start_heartbeat()
    clean_stop = False
    try:
        with pass_loop_beside_tasks():
            yield
        clean_stop = True
    except SystemExit as stop:
        clean_stop = stop.code in (0, None)  # the database queue's worker exits 0 when stopped
        raise
    finally:
        if clean_stop:
            heartbeat.stop()
        else:
            # Work may be left claimed (a task cut short): the heartbeat row stays, and once it
            # is silent the other workers take that work back.
            heartbeat.stopping.set()


def lower_cpu_priority() -> None:
    """Let the web processes on this machine go first (WORKER_NICENESS).

    The webhook must answer Meta at once, whatever the load; a reply can wait a little. When
    the CPU is not all taken this changes nothing: the worker gets every cycle left over.
    """
    if settings.WORKER_NICENESS > 0:
        os.nice(settings.WORKER_NICENESS)
