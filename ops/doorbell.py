"""How an idle pass loop learns that a delivery is waiting, without looking every 0.1 s.

PostgreSQL: a worker about to sleep says so (a row of its listening session in
`messaging_sleeping_worker`, migration 0007), and the webhook's insert notifies only then (a
trigger on the deliveries table runs `pg_notify('instabot_deliveries')`, sent when the insert
commits); the loop waits on a connection of its own that LISTENs, woken at once; it still looks
every WORKER_IDLE_MAX_WAIT seconds for what no insert announces (a delivery put back in the
queue, a comment reply that came due, upkeep that came due). A worker that sees deliveries
come faster than one at a time (several rang while it slept or during a pass, or BUSY_PASSES
passes in a row found work) withdraws its row until a pass finds nothing: it looks again at
once anyway, and a notifying transaction's commit holds a lock of the whole database until it
is on disk, so notifications in every webhook would make the webhooks commit one at a time.
Elsewhere (SQLite, MySQL/MariaDB have no such notification): the loop looks again after
WORKER_POLL_INTERVAL, then twice as long each time it finds nothing, up to
WORKER_IDLE_MAX_WAIT; any work found starts it again from WORKER_POLL_INTERVAL, so a busy
worker never waits and a quiet one costs a few queries a second at most.
"""

import logging
import threading

from django.conf import settings
from django.db import connection

logger = logging.getLogger(__name__)

CHANNEL = "instabot_deliveries"
# The trigger's advisory lock (migration 0007): shared by every inserting transaction.
LOCK_KEY = "27, 1"
# Passes in a row that found work before a sleeping worker withdraws its row: one delivery now
# and then (a wake, a pass, nothing more) keeps it; a steady stream of them withdraws it.
BUSY_PASSES = 2

# A sleeping worker's row, and a sweep of those whose session is gone (a worker killed): a row
# left over only costs notifications. Each statement its own transaction (autocommit).
SLEEPING = (
    "INSERT INTO messaging_sleeping_worker (pid) VALUES (pg_backend_pid()) ON CONFLICT DO NOTHING",
    "DELETE FROM messaging_sleeping_worker WHERE pid NOT IN (SELECT pid FROM pg_stat_activity)",
)
# Then the trigger's lock, tried exclusively (never waited for: a waiting exclusive request
# would hold up every webhook behind it): taken, no insert that read the table before the row
# was in it is still uncommitted, and the loop's next pass sees them all. Tried this many
# times, TRY_EVERY seconds apart; not taken (a long transaction that stored a delivery), the
# loop polls every WORKER_POLL_INTERVAL meanwhile.
TRIES = 10
TRY_EVERY = 0.005
NO_INSERT_UNDER_WAY = (
    f"SELECT CASE WHEN pg_try_advisory_lock({LOCK_KEY}) THEN pg_advisory_unlock({LOCK_KEY}) END"
)
AWAKE = ("DELETE FROM messaging_sleeping_worker WHERE pid = pg_backend_pid()",)


class Doorbell:
    """Waits between the pass loop's passes; `rung()` after a pass that found work."""

    def __init__(self, stopping: threading.Event):
        self.stopping = stopping
        self.wait_next = settings.WORKER_POLL_INTERVAL

    def rung(self) -> None:
        self.wait_next = settings.WORKER_POLL_INTERVAL

    def wait(self, at_most: float | None = None) -> None:
        """After a pass that found nothing: the backoff (at most `at_most` seconds)."""
        self.stopping.wait(self.wait_next if at_most is None else min(self.wait_next, at_most))
        self.wait_next = min(self.wait_next * 2, settings.WORKER_IDLE_MAX_WAIT)

    def close(self) -> None:
        pass


class PostgresDoorbell(Doorbell):
    """LISTENs on a connection of its own (outside Django's pool: a listening session must
    not be lent to a request), opened from the same settings as Django's; says there when it
    sleeps."""

    def __init__(self, stopping: threading.Event):
        super().__init__(stopping)
        self.listener = None
        self.said_asleep = False  # our row is in messaging_sleeping_worker
        self.sleeping = False  # … and every insert that did not ring is committed
        self.busy_passes = 0

    def rung(self) -> None:
        super().rung()
        self.busy_passes += 1
        # Deliveries stored during the pass (it rang meanwhile), or passes finding work one
        # after another: they come faster than we take them. The next pass follows at once.
        if self.said_asleep and (self._drain() or self.busy_passes >= BUSY_PASSES):
            self._say(AWAKE)

    def wait(self, at_most: float | None = None) -> None:
        self.busy_passes = 0
        if self.listener is None and not self._listen():
            # The database is away: back off as elsewhere, listen again later.
            super().wait(at_most)
            return
        if not self.sleeping:
            # Inserts from now on ring; once those before are committed, one more pass sees
            # them (and what rang meanwhile: not a wake-up).
            if not self._say(SLEEPING) or not self._no_insert_under_way():
                self.stopping.wait(settings.WORKER_POLL_INTERVAL)
                return
            self.sleeping = True
            self._drain()
            return
        try:
            # Any notification since the last pass wakes us at once (they queue on the
            # connection): one delivery or a burst of them, one pass. Then drain the rest.
            notifies = self.listener.notifies
            timeout = settings.WORKER_IDLE_MAX_WAIT
            if at_most is not None:
                timeout = min(timeout, at_most)
            woken = sum(1 for _ in notifies(timeout=timeout, stop_after=1))
        except Exception:
            self._lost()
            return
        if woken and woken + self._drain() > 1:
            self._say(AWAKE)  # more than one since it slept: a burst, or a stream begins

    def _drain(self) -> int:
        """The notifications waiting on the connection, taken: how many."""
        try:
            return sum(1 for _ in self.listener.notifies(timeout=0))
        except Exception:
            self._lost()
            return 0

    def _say(self, statements: tuple[str, ...]) -> bool:
        try:
            for statement in statements:
                self.listener.execute(statement)
        except Exception:
            self._lost()
            return False
        self.said_asleep = statements is SLEEPING
        self.sleeping = False
        return True

    def _no_insert_under_way(self) -> bool:
        try:
            for _ in range(TRIES):
                if self.listener.execute(NO_INSERT_UNDER_WAY).fetchone()[0]:
                    return True
                self.stopping.wait(TRY_EVERY)
        except Exception:
            self._lost()
        return False

    def _lost(self) -> None:
        """The listening connection failed: closed, and opened again at the next wait."""
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
        self.said_asleep = self.sleeping = False
        if self.listener is not None:
            try:
                # Its row goes with it (else the next sleeping worker's sweep takes it).
                self.listener.execute(*AWAKE)
            except Exception:  # noqa: S110 - broken: the sweep takes the row
                pass
            try:
                self.listener.close()
            except Exception:  # noqa: S110 - already broken: nothing left to close
                pass
            self.listener = None


def doorbell_for_this_database(stopping: threading.Event) -> Doorbell:
    if connection.vendor == "postgresql":
        return PostgresDoorbell(stopping)
    return Doorbell(stopping)
