"""How an idle pass loop learns that a delivery is waiting, without looking every 0.1 s.

PostgreSQL: the webhook's insert notifies (a trigger on the deliveries table, migration
0002, runs `pg_notify('instabot_deliveries')` when the insert commits), and the loop waits on
a connection of its own that LISTENs, woken at once; it still looks every WORKER_IDLE_MAX_WAIT
seconds for what no insert announces (a delivery put back in the queue, a comment reply that
came due, upkeep that came due). Elsewhere (SQLite, MySQL/MariaDB have no such notification):
the loop looks again after WORKER_POLL_INTERVAL, then twice as long each time it finds
nothing, up to WORKER_IDLE_MAX_WAIT; any work found starts it again from WORKER_POLL_INTERVAL,
so a busy worker never waits and a quiet one costs a few queries a second at most.
"""

import logging
import threading

from django.conf import settings
from django.db import connection

logger = logging.getLogger(__name__)

CHANNEL = "instabot_deliveries"


class Doorbell:
    """Waits between the pass loop's passes; `rung()` after a pass that found work."""

    def __init__(self, stopping: threading.Event):
        self.stopping = stopping
        self.wait_next = settings.WORKER_POLL_INTERVAL

    def rung(self) -> None:
        self.wait_next = settings.WORKER_POLL_INTERVAL

    def wait(self) -> None:
        """After a pass that found nothing: the backoff."""
        self.stopping.wait(self.wait_next)
        self.wait_next = min(self.wait_next * 2, settings.WORKER_IDLE_MAX_WAIT)

    def close(self) -> None:
        pass


class PostgresDoorbell(Doorbell):
    """LISTENs on a connection of its own (outside Django's pool: a listening session must
    not be lent to a request), opened from the same settings as Django's."""

    def __init__(self, stopping: threading.Event):
        super().__init__(stopping)
        self.listener = None

    def wait(self) -> None:
        if self.listener is None and not self._listen():
            super().wait()  # the database is away: back off as elsewhere, listen again later
            return
        try:
            # Any notification since the last pass wakes us at once (they queue on the
            # connection): one delivery or a burst of them, one pass. Then drain the rest.
            for _ in self.listener.notifies(timeout=settings.WORKER_IDLE_MAX_WAIT, stop_after=1):
                pass
            for _ in self.listener.notifies(timeout=0):
                pass
        except Exception:
            logger.warning("The pass loop's LISTEN connection failed; listening again later")
            self.close()

    def _listen(self) -> bool:
        import psycopg

        try:
            params = connection.get_connection_params()
            self.listener = psycopg.connect(**params, autocommit=True)
            self.listener.execute(f"LISTEN {CHANNEL}")
        except Exception:
            logger.warning("The pass loop could not LISTEN; looking for deliveries by polls")
            self.close()
            return False
        return True

    def close(self) -> None:
        if self.listener is not None:
            try:
                self.listener.close()
            except Exception:  # noqa: S110 - already broken: nothing left to close
                pass
            self.listener = None


def doorbell_for_this_database(stopping: threading.Event) -> Doorbell:
    if connection.vendor == "postgresql":
        return PostgresDoorbell(stopping)
    return Doorbell(stopping)
