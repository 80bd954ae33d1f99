"""Django's SQLite backend, with writers taking turns instead of sleeping on a busy lock.

SQLite lets one transaction write at a time. Django's backend leaves the waiting to SQLite's
busy handler, which sleeps in growing steps (1, 2, 5, 10 … up to 100 ms) however soon the
lock is free again: with the web processes and the workers all writing, a webhook insert of
a fraction of a millisecond waited tens of milliseconds behind a worker's transaction (p99
of 100+ ms at 200 deliveries/s), while the CPU idled.

Here every transaction first takes its turn on an OS lock beside the database file (flock).
A waiter retries within a fraction of a millisecond of the turn coming free, and waits no
longer than the busy timeout before failing like SQLite would ("database is locked"). Single
statements outside a transaction keep SQLite's own waiting: they hold the lock only for
themselves, and SQLite still arbitrates every write, so this is about speed, not correctness.
"""

import fcntl
import time

from django.db import OperationalError
from django.db.backends.sqlite3 import base

# Between tries for the turn: short first (most transactions take well under a millisecond),
# then at most this long, so a freed turn waits for its next writer no longer than this.
FIRST_WAIT = 0.0001
LONGEST_WAIT = 0.002


class DatabaseWrapper(base.DatabaseWrapper):
    _turn_file = None
    _has_turn = False

    def _start_transaction_under_autocommit(self):
        self._take_turn()
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self._end_turn()
            raise

    def _commit(self):
        try:
            super()._commit()
        finally:
            self._end_turn()

    def _rollback(self):
        try:
            super()._rollback()
        finally:
            self._end_turn()

    def _close(self):
        try:
            super()._close()
        finally:
            self._end_turn()
            if self._turn_file is not None:
                self._turn_file.close()
                self._turn_file = None

    def _take_turn(self) -> None:
        if self._turn_file is None:
            if self.is_in_memory_db():
                return  # one connection's own database: nobody to take turns with
            # One open file per connection: flock shuts out the other connections of this
            # process (threads) as well as other processes.
            self._turn_file = open(f"{self.settings_dict['NAME']}-turn", "ab")
        # SQLite's busy timeout (OPTIONS "timeout"; Python's default is 5 s).
        deadline = time.monotonic() + self.settings_dict["OPTIONS"].get("timeout", 5)
        wait = FIRST_WAIT
        while True:
            try:
                fcntl.flock(self._turn_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._has_turn = True
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise OperationalError(
                        "database is locked (another transaction held the write turn "
                        "for longer than the busy timeout)"
                    ) from None
                time.sleep(wait)
                wait = min(wait * 2, LONGEST_WAIT)

    def _end_turn(self) -> None:
        if self._has_turn:
            fcntl.flock(self._turn_file, fcntl.LOCK_UN)
            self._has_turn = False
