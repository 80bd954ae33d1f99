"""Django's SQLite backend, with writers taking turns instead of sleeping on a busy lock.

SQLite lets one transaction write at a time. Django's backend leaves the waiting to SQLite's
busy handler, which sleeps in growing steps (1, 2, 5, 10 … up to 100 ms) however soon the
lock is free again: with the web processes and the workers all writing, a webhook insert of
a fraction of a millisecond waited tens of milliseconds behind a worker's transaction (p99
of 100+ ms at 200 deliveries/s), while the CPU idled.

Here every transaction first takes its turn on an OS lock beside the database file (flock).
A waiter retries within a fraction of a millisecond of the turn coming free, and waits no
longer than the busy timeout before failing like SQLite would ("database is locked"). A write
outside a transaction (autocommit: an INSERT, UPDATE or DELETE on its own, which SQLite makes
a transaction of) takes its turn for that one statement; reads never wait for one, as WAL
readers do not block writers. SQLite still arbitrates every write, so this is about speed,
not correctness.

A transaction takes its turn (and runs BEGIN) at its first statement, not when `atomic()`
opens it: the Python that builds that statement, Django's query compilation, then runs before
the turn rather than while every other writer waits. For the webhook's single insert that is
most of the time it would otherwise hold the turn. A transaction that runs no statement takes
no turn at all.
"""

import fcntl
import time
from contextlib import contextmanager

from django.db import OperationalError
from django.db.backends.sqlite3 import base

# Between tries for the turn: short first (most transactions take well under a millisecond),
# then at most this long, so a freed turn waits for its next writer no longer than this.
FIRST_WAIT = 0.0001
LONGEST_WAIT = 0.002


class TurnTakingCursor(base.SQLiteCursorWrapper):
    """Begins its connection's opened transaction, if it has not begun yet, before the first
    statement; outside a transaction, has each write take its turn."""

    wrapper = None  # the DatabaseWrapper whose connection made this cursor

    def execute(self, query, params=None):
        with self.wrapper.turn_for(query):
            return super().execute(query, params)

    def executemany(self, query, param_list):
        with self.wrapper.turn_for(query):
            return super().executemany(query, param_list)


class DatabaseWrapper(base.DatabaseWrapper):
    _turn_file = None
    _has_turn = False
    _begin_pending = False

    def create_cursor(self, name=None):
        cursor = self.connection.cursor(factory=TurnTakingCursor)
        cursor.wrapper = self
        return cursor

    @contextmanager
    def turn_for(self, query: str):
        """Around one statement: the opened transaction's turn and BEGIN before its first
        statement (the turn then lasts until the commit or rollback), or, outside a
        transaction, a turn for this statement alone if it writes."""
        if self._begin_pending:
            self._begin()
            yield
        elif self.autocommit and not query.startswith("SELECT"):
            self._take_turn()
            try:
                yield
            finally:
                self._end_turn()
        else:
            yield

    def _start_transaction_under_autocommit(self):
        self._begin_pending = True  # BEGIN at the first statement (TurnTakingCursor)

    def _begin(self):
        self._begin_pending = False
        self._take_turn()
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self._end_turn()
            raise

    def _commit(self):
        self._begin_pending = False
        try:
            super()._commit()
        finally:
            self._end_turn()

    def _rollback(self):
        self._begin_pending = False
        try:
            super()._rollback()
        finally:
            self._end_turn()

    def _close(self):
        self._begin_pending = False
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
