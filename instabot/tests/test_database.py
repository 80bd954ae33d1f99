import threading
import time
from unittest import mock

import pytest
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from messaging.models import WorkerHeartbeat

# Everything here is about how instabot configures SQLite.
pytestmark = pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite only")


@pytest.mark.django_db
def test_sqlite_runs_in_wal_mode_with_a_busy_timeout_and_immediate_transactions():
    with connection.cursor() as cursor:
        assert cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert cursor.execute("PRAGMA busy_timeout").fetchone()[0] == 20000
    assert connection.transaction_mode == "IMMEDIATE"


# --- SQLite: transactions take turns to write (instabot/sqlite) ---


def _hold_a_transaction(holding: threading.Event, release: threading.Event) -> threading.Thread:
    """Another connection (a thread) writes in a transaction and holds it until `release`."""

    def hold():
        try:
            with transaction.atomic():
                WorkerHeartbeat.beat("holder:1")
                holding.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=hold)
    thread.start()
    assert holding.wait(10)
    return thread


@pytest.mark.django_db(transaction=True)
def test_a_sqlite_transaction_waits_for_its_turn_to_write_then_writes():
    holding, release = threading.Event(), threading.Event()
    holder = _hold_a_transaction(holding, release)
    threading.Timer(0.3, release.set).start()
    started = time.monotonic()
    with transaction.atomic():
        WorkerHeartbeat.beat("waiter:2")
    waited = time.monotonic() - started
    holder.join()
    assert waited >= 0.25  # it waited for the other transaction to end...
    assert WorkerHeartbeat.objects.count() == 2  # ...then wrote, without an error


@pytest.mark.django_db(transaction=True)
def test_a_sqlite_transaction_kept_waiting_past_the_busy_timeout_fails_as_locked():
    holding, release = threading.Event(), threading.Event()
    holder = _hold_a_transaction(holding, release)
    try:
        with mock.patch.dict(connection.settings_dict["OPTIONS"], {"timeout": 0.2}):
            with pytest.raises(OperationalError, match="database is locked"):
                with transaction.atomic():
                    WorkerHeartbeat.beat("waiter:2")
    finally:
        release.set()
        holder.join()
    # The refused transaction left the connection usable, and the turn free.
    with transaction.atomic():
        WorkerHeartbeat.beat("waiter:2")
    assert WorkerHeartbeat.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_sqlite_transaction_gives_up_its_turn():
    with pytest.raises(ZeroDivisionError):
        with transaction.atomic():
            WorkerHeartbeat.beat("first:1")
            1 / 0  # noqa: B018
    holding, release = threading.Event(), threading.Event()
    release.set()
    _hold_a_transaction(holding, release).join()  # would wait for the turn, and time out
    assert list(WorkerHeartbeat.objects.values_list("worker", flat=True)) == ["holder:1"]


@pytest.mark.django_db(transaction=True)
def test_a_sqlite_transaction_takes_its_turn_at_its_first_statement_not_when_it_opens():
    holding, release = threading.Event(), threading.Event()
    holder = _hold_a_transaction(holding, release)
    try:
        started = time.monotonic()
        with transaction.atomic():
            pass  # no statement: nothing to wait for (the holder keeps its turn meanwhile)
        assert time.monotonic() - started < 0.2
        threading.Timer(0.3, release.set).start()
        with transaction.atomic():
            WorkerHeartbeat.beat("waiter:2")  # this one waits for the turn
        assert time.monotonic() - started >= 0.25
    finally:
        release.set()
        holder.join()
    assert WorkerHeartbeat.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_sqlite_write_outside_a_transaction_takes_its_turn_and_a_read_does_not():
    holding, release = threading.Event(), threading.Event()

    def hold_the_turn_alone():  # another connection takes the turn, and no SQLite lock
        try:
            connection.ensure_connection()
            connection._take_turn()
            holding.set()
            release.wait(10)
            connection._end_turn()
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_turn_alone)
    holder.start()
    assert holding.wait(10)
    try:
        started = time.monotonic()
        assert WorkerHeartbeat.objects.count() == 0  # a read takes no turn
        assert time.monotonic() - started < 0.2
        threading.Timer(0.3, release.set).start()
        # One INSERT in autocommit, as the webhook's: SQLite would let it write at once.
        WorkerHeartbeat.objects.create(worker="waiter:2", last_seen=timezone.now())
        assert time.monotonic() - started >= 0.25  # it waited for the turn
    finally:
        release.set()
        holder.join()
    assert WorkerHeartbeat.objects.count() == 1
