"""The network part of the outbox's sends, and the threads it runs in: a call prepared by the
sender in the pass's thread (sender.py) waits here for its slot of the account's pace, then
makes the kind's call(s). No database here: a kind whose send() touches it in a pool's thread
fails loudly (DatabaseInSenderThread), and its outcome is recorded by the pass's thread."""

import contextvars
import queue
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from os import getpid

from django.db import connections
from django.utils import timezone

from messaging.outbox.kinds import OutboxKind, Outcome
from meta import graph

# Why a call of the round was not made: what Meta answered another call of its account.
PAUSED = "paused"  # a rate limit: the account's calls wait for its pause
REFUSED = "refused"  # a token Meta refuses (190): the account's calls fail without a call


@dataclass
class Round:
    """What a round's calls share: the accounts Meta rate-limited, or whose token it refused,
    during the round (their calls not yet made are not made, as when sent one by one)."""

    stopped: dict = field(default_factory=dict)  # account id: PAUSED or REFUSED
    lock: threading.Lock = field(default_factory=threading.Lock)
    # As recorded, in the pass's thread: when each paused account's pause ends (once a
    # round), and when each account's token was found refused.
    paused_until: dict = field(default_factory=dict)
    refused_at: dict = field(default_factory=dict)
    # Accounts whose refused token had been replaced meanwhile: their calls go again.
    replaced: set = field(default_factory=set)

    def stop(self, account_id: str, why: str) -> None:
        with self.lock:
            self.stopped.setdefault(account_id, why)

    def stopped_for(self, account_id: str) -> str:
        with self.lock:
            return self.stopped.get(account_id, "")


@dataclass
class Call:
    """One claimed row, prepared in the pass's thread, called (maybe in a pool's thread)."""

    kind: OutboxKind
    row: object
    account: object
    account_id: str
    client: graph.InstagramClient | None
    slot: datetime | None  # when the account's pace lets its first call go
    context: contextvars.Context  # the row's log context, for the thread that calls
    round: Round
    outcome: Outcome | None = None
    error: Exception | None = None
    not_made: str = ""  # PAUSED or REFUSED: not called, for what another call was told


def make_call(call: Call) -> None:
    """The network part of one send: wait for its slot, then the kind's call(s). Any error is
    kept for the pass's thread to record."""
    call.not_made = call.round.stopped_for(call.account_id)
    if call.not_made:
        return
    if call.slot is not None:
        _sleep_until(call.slot)
        call.not_made = call.round.stopped_for(call.account_id)
        if call.not_made:
            return
    try:
        call.outcome = call.kind.send(call.row, call.client)
    except graph.RateLimitedError as exc:
        call.round.stop(call.account_id, PAUSED)
        call.error = exc
    except graph.InvalidTokenError as exc:
        call.round.stop(call.account_id, REFUSED)
        call.error = exc
    except Exception as exc:
        call.error = exc


def in_pool(chain: list[Call], ended: queue.SimpleQueue | None = None) -> None:
    """In a pool's thread: the calls of one chain, one after another; no database. Each call,
    once it ended, is put on `ended`, for the pass's thread to record at once."""
    made = 0
    try:
        with no_database():
            for call in chain:
                call.context.run(make_call, call)
                made += 1
                if ended is not None:
                    ended.put(call)
    finally:
        if ended is not None:  # the pass's thread waits for every call of the chain
            for call in chain[made:]:  # never called: the thread failed before (a bug)
                call.error = call.error or RuntimeError("not called: its thread failed")
                ended.put(call)
        connections.close_all()  # none is opened here; if a kind did, it does not stay open


class DatabaseInSenderThread(RuntimeError):
    """A kind's send() touched the database in the sender's pool: a bug (`concurrent`)."""


def _refuse(execute, sql, params, many, context):
    raise DatabaseInSenderThread(
        "a send touched the database in the sender's pool (load its rows in load(), record "
        "in sent(), or mark its kind concurrent = False)"
    )


@contextmanager
def no_database():
    with ExitStack() as stack:
        for alias in connections:
            stack.enter_context(connections[alias].execute_wrapper(_refuse))
        yield


class Pool:
    """A thread pool made when first used, and made again in a forked child (RQ's work
    horse), whose copy of the parent's threads is gone."""

    def __init__(self, threads: int, name: str):
        self.threads, self.name = threads, name
        self.lock = threading.Lock()
        self.executor: ThreadPoolExecutor | None = None
        self.pid = 0

    def submit(self, fn, *args) -> Future:
        with self.lock:
            if self.executor is None or self.pid != getpid():
                self.executor = ThreadPoolExecutor(self.threads, thread_name_prefix=self.name)
                self.pid = getpid()
        return self.executor.submit(fn, *args)


def _sleep_until(moment: datetime) -> None:
    seconds = (moment - timezone.now()).total_seconds()
    if seconds > 0:
        time.sleep(seconds)
