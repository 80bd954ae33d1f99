"""The worker's delivery loop: webhook deliveries are taken from their table, not from a task.

The webhook stores a delivery and answers Meta; that waiting row is the work item
(receiving.take_waiting_deliveries). When no delivery waits, the loop fetches the usernames of
new customers (profiles.fetch_missing_usernames), a few at a time: a username can wait, a
customer should not. Between deliveries it sends a few due rows of the outbox (retries, staff
replies, later parts, replies to comments and mentions: messaging.outbox.send_due). An idle
loop sleeps until a delivery is announced, or a backoff ends (messaging.doorbell). Several
workers can run: each delivery, send and username fetch is claimed with a conditional UPDATE,
so exactly one of them does it.
"""

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import close_old_connections, connection

from comments.posts import fetch_missing_posts
from messaging import upkeep
from messaging.doorbell import doorbell_for_this_database
from messaging.outbox import send_due
from messaging.profiles import fetch_missing_usernames
from messaging.receiving import take_waiting_deliveries

logger = logging.getLogger(__name__)

# Seconds the loop waits after a failed pass (the database restarting, say), so that an outage
# is one log line every few seconds, not ten a second.
PAUSE_AFTER_FAILURE = 5.0


class DeliveryLoop(threading.Thread):
    def __init__(self):
        # A daemon: a worker forced to quit (a second Ctrl+C) is not held up by it; a delivery
        # cut short is swept back into the queue.
        super().__init__(name="worker-deliveries", daemon=True)
        self.stopping = threading.Event()

    def run(self) -> None:
        doorbell = doorbell_for_this_database(self.stopping)
        try:
            while not self.stopping.is_set():
                # Outside a request cycle nothing else closes a connection that died (a
                # database restart) or outlived CONN_MAX_AGE.
                close_old_connections()
                try:
                    # Waiting deliveries first, then a few due sends of every kind (the
                    # outbox); missing usernames only when none waits.
                    done = take_waiting_deliveries() + send_due() or fetch_missing_usernames()
                except Exception:
                    # A delivery claimed meanwhile is swept back into the queue.
                    logger.exception(
                        "The delivery loop failed; trying again in %.0f s", PAUSE_AFTER_FAILURE
                    )
                    self.stopping.wait(PAUSE_AFTER_FAILURE)
                    continue
                if done:
                    doorbell.rung()
                else:
                    # Idle: sleep until a delivery is announced (PostgreSQL) or a backoff ends.
                    doorbell.wait()
        finally:
            doorbell.close()
            connection.close()


@contextmanager
def delivery_loop_beside_tasks() -> Iterator[DeliveryLoop]:
    """Run the delivery loop while the caller runs its task loop. When the task loop ends (a
    graceful shutdown: SIGTERM, Ctrl+C), the delivery in hand is finished before the worker
    exits; the loop takes no new one."""
    loop = DeliveryLoop()
    loop.start()
    try:
        yield loop
    finally:
        loop.stopping.set()
        loop.join()


@contextmanager
def beside_the_task_loop(one_pass: bool) -> Iterator[None]:
    """What `manage.py worker` runs around the task loop.

    One pass (--batch, --burst): the sweeps, then every delivery waiting, before the tasks
    that are due. Otherwise: a lower CPU priority, then the heartbeat, the upkeep and the
    delivery loop in threads for as long as the task loop runs; the heartbeat beats first (a
    claim belongs to a worker with a heartbeat) and stops last, once the delivery in hand is
    finished.
    """
    if one_pass:
        upkeep.run_once()
        handle_all_waiting()
        yield
        return
    upkeep.lower_cpu_priority()
    heartbeat = upkeep.start_heartbeat()
    clean_stop = False
    try:
        upkeep.start_in_background()
        with delivery_loop_beside_tasks():
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


def handle_all_waiting() -> None:
    """For one-pass workers (--batch, --burst): every delivery waiting now and every send due
    now, then every missing username and post, then return."""
    while (
        take_waiting_deliveries() + send_due() or fetch_missing_usernames() or fetch_missing_posts()
    ):
        pass
