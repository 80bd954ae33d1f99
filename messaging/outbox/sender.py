"""The one sender: claims due rows of every kind, takes the account's send slots, calls Meta
through the kind's adapter, and records every outcome here, the same way for every kind:

sent · retried later with backoff · the account paused on a rate limit (every kind to it waits,
other accounts go on) · the account marked on 190 · waiting for credentials (never escaping a
pass, the attempt not counted) · failed for good with Meta's reason · cancelled.

A round of the sender, in the pass's thread but for the calls themselves:

    claim (claiming.py: the oldest due rows, at most SENDS_PER_ACCOUNT of an account)
    ─▶ prepare each row: load it, the kind's checks, the token, a slot of the account's pace
       per Graph call (reserved here: the slots of a round are the account's pace)
    ─▶ the calls, side by side in a pool of SEND_THREADS threads over kept-alive connections
       (only the network there: each waits for its slot, then calls; rows of one conversation
       one after another, in queue order)
    ─▶ every outcome recorded through the one path below, each row on its own

Sends that call no Meta (outgoing webhooks, flows' external requests: `calls_meta` False) take
no part in a round: the pass hands them to a pool of their own (OffPath) and records each at a
later pass once it is answered, never waiting for them, so a slow endpoint never holds up a DM.
"""

import contextvars
import logging
import random
import threading
from collections import Counter, defaultdict
from concurrent.futures import Future, as_completed, wait
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone

from accounts.encryption import EncryptionKeyError
from messaging.models import SendThrottle, WaitingFor
from messaging.outbox.calls import PAUSED, REFUSED, Call, Pool, Round, in_pool, make_call
from messaging.outbox.claiming import (
    WAITING_FOR_CREDENTIALS,
    claim_round,
    kinds_with_rows_due,
)
from messaging.outbox.kinds import (
    NotSent,
    OutboxKind,
    Outcome,
    PermanentSendError,
    Sent,
    TransientSendError,
)
from messaging.worker_identity import this_worker
from meta import graph

logger = logging.getLogger(__name__)

# Due rows one round of the sender claims, at most: waiting DMs come between passes.
SENDS_PER_PASS = 10
# Threads that make a round's Graph calls side by side: as many as a round has rows, so a
# round takes about one call's time (Meta answers in 0.1 to 0.3 s) instead of ten. The calls
# wait on the network, not the CPU (Python threads suit them); more would sit idle, and each
# keeps a connection to Meta alive (meta.graph keeps as many per host).
SEND_THREADS = min(SENDS_PER_PASS, graph.KEPT_ALIVE_CONNECTIONS)
# Threads for the sends that call no Meta. Each may wait twice its endpoint's timeout
# (OUTGOING_WEBHOOK_TIMEOUT 5 s, EXTERNAL_REQUEST_TIMEOUT 3 s): four hanging endpoints
# hold them all, and the others wait their turn, DMs never. Healthy endpoints answer in tens
# of milliseconds: four carry about a hundred a second.
OFF_PATH_THREADS = 4
# A worker waits in-process for a send slot this close; a later slot defers the row.
MAX_SLOT_WAIT = timedelta(seconds=1)
SEND_POOL = Pool(SEND_THREADS, "outbox-send")


def send_due(limit: int = SENDS_PER_PASS) -> int:
    """The pass's step: record the sends that call no Meta answered since the last pass, send
    up to `limit` due rows to Meta (a round, concurrently), and hand more of the others to
    their pool. Returns how many were claimed and recorded (0: nothing due, or every account
    with some due has used its hour)."""
    now = timezone.now()
    recorded = OFF_PATH.record_answered()
    due = kinds_with_rows_due(now)  # one statement; a pass with nothing due stops here
    claimed = claim_round([kind for kind in due if kind.calls_meta], limit, now, Counter())
    send_claimed(claimed)
    OFF_PATH.take(now, [kind for kind in due if not kind.calls_meta])
    return recorded + len(claimed)


def send_now(kind: OutboxKind, pk: int) -> None:
    """Send one row at once (a bot reply, once the DM's transaction committed). Safe to call
    twice: only one call claims it."""
    send_now_many(kind, [pk])


def send_now_many(kind: OutboxKind, pks: list[int]) -> None:
    """Send rows at once (the bot replies of a batch of deliveries), as one round: side by
    side, each conversation's in the order given. The rows no longer due here are skipped.
    One statement claims them all (one alone: claim_one)."""
    if len(pks) == 1:
        mine = pks if kind.model.claim_one(pks[0], this_worker()) else []
    else:
        mine = kind.model.claim_held(pks, this_worker())
    for pk in set(pks) - set(mine):
        logger.info("%s %s is no longer due here: not sending it again", kind.label, pk)
    taken = set(mine)
    send_claimed([(kind, pk) for pk in pks if pk in taken])


def settle() -> int:
    """Wait for the sends that call no Meta still under way, and record them (a one-pass
    worker before it ends, a worker stopping, tests). Returns how many were recorded."""
    return OFF_PATH.record_answered(wait_for_all=True)


def send_claimed(claimed: list[tuple[OutboxKind, int]]) -> None:
    """Prepare, call and record rows this worker claimed (in queue order), as one round."""
    round_ = Round()
    loaded = _loaded(claimed)
    calls = [call for kind, row in loaded if (call := _guarded(_prepared, kind, row, round_))]
    side_by_side = [call for call in calls if call.kind.concurrent]
    chains = defaultdict(list)
    for call in side_by_side:
        key = call.kind.order_key(call.row)
        chains[key if key is not None else ("row", id(call))].append(call)
    failure = None
    if len(chains) > 1:
        futures = {SEND_POOL.submit(in_pool, chain): chain for chain in chains.values()}
        # Each chain's calls recorded as soon as they end: a worker killed meanwhile leaves in
        # doubt (sent again after the stall sweep) only the calls still under way.
        for future in as_completed(futures):
            failure = _record_made(futures[future]) or failure
    else:
        for chain in chains.values():  # one: no thread to hand it to
            for call in chain:
                call.context.run(make_call, call)
            failure = _record_made(chain) or failure
    for call in calls:
        if not call.kind.concurrent:
            call.context.run(make_call, call)
            failure = _record_made([call]) or failure
    # Last, those not called for what Meta told another call of their account: they take the
    # pause, or the refusal, that call recorded.
    failure = _recorded([call for call in calls if call.not_made]) or failure
    if failure is not None:
        raise failure  # the database is away: the worker's loop waits, then tries again


def _record_made(calls: list[Call]) -> DatabaseError | None:
    return _recorded([call for call in calls if not call.not_made])


def _recorded(calls: list[Call]) -> DatabaseError | None:
    """Record each call; the database's error, if it failed us, for the caller to raise once
    the round's other calls are recorded."""
    try:
        _record_each(calls)
    except DatabaseError as exc:
        return exc
    return None


def _record_each(calls: list[Call]) -> None:
    """Each call's outcome, on its own: one that cannot be recorded stops no other."""
    failure = None
    for call in calls:
        try:
            with call.kind.log_context(call.row):
                _record_call(call)
        except DatabaseError as exc:
            failure = failure or exc  # the others' outcomes are recorded if they can be
        except Exception:
            # A bug in one kind must not stop every other send: this row stays claimed, and
            # the stall sweep puts it back after REPLY_STALLED_AFTER.
            logger.exception("%s %s: recording the send failed", call.kind.label, call.row.pk)
    if failure is not None:
        raise failure  # the database is away: the worker's loop waits, then tries again


def _loaded(claimed: list[tuple[OutboxKind, int]]) -> list[tuple[OutboxKind, object]]:
    """The claimed rows, read with one query per kind (load_many), in the claimed order."""
    pks = defaultdict(list)
    for kind, pk in claimed:
        pks[kind].append(pk)
    rows = {}
    for kind, of_kind in pks.items():
        try:
            rows[kind] = kind.load_many(of_kind)
        except DatabaseError:
            raise  # the database is away: the worker's loop waits, then tries again
        except Exception:
            rows[kind] = {}  # one by one, then: a row that cannot be read stops no other
            for pk in of_kind:
                if (row := _guarded(_load_one, kind, pk)) is not None:
                    rows[kind][pk] = row
    loaded = []
    for kind, pk in claimed:
        if pk in rows[kind]:
            loaded.append((kind, rows[kind][pk]))
        else:
            logger.warning("%s %s: claimed, then gone: not sent", kind.label, pk)
    return loaded


def _load_one(kind: OutboxKind, pk: int):
    return kind.load(pk)


def _guarded(step, kind: OutboxKind, row_or_pk, *args):
    try:
        return step(kind, row_or_pk, *args)
    except DatabaseError:
        raise  # the database is away: the worker's loop waits, then tries again
    except Exception:
        # A bug in one kind must not stop every other send: this row stays claimed, and the
        # stall sweep puts it back after REPLY_STALLED_AFTER.
        pk = getattr(row_or_pk, "pk", row_or_pk)
        logger.exception("%s %s: the send failed unexpectedly", kind.label, pk)
        return None


def _prepared(kind: OutboxKind, row, round_: Round) -> Call | None:
    """What comes before the call, in the pass's thread: the kind's checks, the token, the
    account's pace. None: decided (and recorded) without a call."""
    with kind.log_context(row):
        if outcome := kind.prepare(row):
            record(kind, row, outcome, called=False)
            return None
        account, account_id = kind.account(row), kind.account_id(row)
        client, slot = None, None
        if kind.calls_meta:
            if account is not None and account.token_is_invalid:
                # Meta already refused this token: don't try until staff replace it.
                since = f"{account.token_invalid_since:%Y-%m-%d %H:%M} UTC"
                why = f"not sent: the account's access token is invalid since {since}"
                record(kind, row, NotSent(why), called=False)
                return None
            try:
                client = graph.client_for(account)
            except EncryptionKeyError as exc:
                wait_for_credentials(kind, row, str(exc))
                return None
            rate, calls = send_rate(account), kind.graph_calls(row)
            slot = SendThrottle.reserve_slot(account_id, rate, MAX_SLOT_WAIT, calls=calls)
            if slot > timezone.now() + MAX_SLOT_WAIT:
                # The account's pace is used up, or Meta paused it: back then, attempt uncounted.
                defer(kind, row, slot, "waiting for the account's send rate", WaitingFor.RATE)
                return None
        context = contextvars.copy_context()
    return Call(kind, row, account, account_id, client, slot, context, round_)


class OffPath:
    """The sends that call no Meta: claimed and prepared in the pass, called in a pool of
    their own, recorded at a later pass once answered. The pass never waits for them (but a
    one-pass worker, or one stopping, settles them: settle())."""

    def __init__(self):
        self.pool = Pool(OFF_PATH_THREADS, "outbox-off-path")
        self.lock = threading.Lock()  # one pass at a time takes and records
        self.in_flight: dict[Future, Call] = {}

    def take(self, now: datetime, kinds: list[OutboxKind]) -> int:
        """Claim as many due rows of `kinds` (which call no Meta) as there are free threads,
        and hand them over."""
        with self.lock:
            room = OFF_PATH_THREADS - len(self.in_flight)
            if room <= 0 or not kinds:
                return 0
            round_ = Round()
            claimed = claim_round(kinds, room, now, Counter())
            for kind, row in _loaded(claimed):
                if call := _guarded(_prepared, kind, row, round_):
                    self.in_flight[self.pool.submit(in_pool, [call])] = call
            return len(claimed)

    def record_answered(self, *, wait_for_all: bool = False) -> int:
        """Record the calls answered (all of them, once answered, with `wait_for_all`)."""
        with self.lock:
            if wait_for_all:
                wait(list(self.in_flight))
            answered = [future for future in self.in_flight if future.done()]
            _record_each([self.in_flight.pop(future) for future in answered])
            return len(answered)

    def forget(self) -> None:
        """Wait for the calls under way and record none of them (tests: their rows are gone)."""
        with self.lock:
            wait(list(self.in_flight))
            self.in_flight.clear()


OFF_PATH = OffPath()


def _record_call(call: Call) -> None:
    """A call's outcome, through the one path."""
    kind, row, account, account_id = call.kind, call.row, call.account, call.account_id
    if call.not_made == PAUSED:
        # Meta rate-limited the account during the round: this one did not go, and waits for
        # the account's pause. Not counted.
        pause = timedelta(seconds=settings.SEND_RATE_LIMIT_PAUSE)
        at = (
            call.round.paused_until.get(account_id)
            or SendThrottle.paused_until_of(account_id)
            or timezone.now() + pause
        )
        defer(kind, row, at, "not sent: Meta is rate-limiting the account", WaitingFor.RATE)
        return
    if call.not_made == REFUSED:
        # Meta refused the account's token to another call of the round: not tried, as a
        # row prepared after it would not have been.
        refused_at = call.round.refused_at.get(account_id, timezone.now())
        since = f"{refused_at:%Y-%m-%d %H:%M} UTC"
        why = f"not sent: the account's access token is invalid since {since}"
        record(kind, row, NotSent(why), called=False)
        return
    exc = call.error
    if exc is None:
        record(kind, row, call.outcome)
    elif isinstance(exc, PermanentSendError):
        logger.warning("%s failed for good: %s", kind.describe(row), exc)
        record(kind, row, NotSent(str(exc)))
    elif isinstance(exc, TransientSendError):
        retry_or_fail(kind, row, str(exc))
    elif isinstance(exc, EncryptionKeyError):
        wait_for_credentials(kind, row, str(exc))
    elif isinstance(exc, graph.InvalidTokenError):
        logger.error(
            "CREDENTIALS PROBLEM: the Graph API rejected the access token for account %s; "
            "its sends fail until the token is replaced. %s failed: %s",
            account_id,
            kind.describe(row),
            exc,
        )
        if account is not None:
            account.mark_token_invalid(str(exc))
        call.round.refused_at.setdefault(account_id, timezone.now())
        record(kind, row, NotSent(f"invalid access token: {exc}"))
    elif isinstance(exc, graph.PermanentGraphAPIError):
        logger.warning("%s failed for good: %s", kind.describe(row), exc)
        record(kind, row, NotSent(str(exc)))
    elif isinstance(exc, graph.RateLimitedError):
        # Meta is throttling the account: every kind of send to it waits (its slot is paused),
        # the other accounts go on. Meta refused the pace, not this row: not counted.
        until = call.round.paused_until.get(account_id)
        if until is None:  # once a round: its other refused calls wait for the same pause
            until = SendThrottle.pause(account_id, settings.SEND_RATE_LIMIT_PAUSE)
            call.round.paused_until[account_id] = until
            logger.warning(
                "Meta is rate-limiting account %s: its sends pause until %s (%s)",
                account_id,
                until,
                exc,
            )
        defer(kind, row, until, str(exc), WaitingFor.RATE)
    elif isinstance(exc, graph.TransientGraphAPIError):
        retry_or_fail(kind, row, str(exc))
    elif isinstance(exc, DatabaseError):
        raise exc  # a kind that sends in the pass's thread: the database is away
    else:
        # A bug in one kind must not stop every other send: this row stays claimed, and the
        # stall sweep puts it back after REPLY_STALLED_AFTER.
        logger.error("%s %s: the send failed unexpectedly", kind.label, row.pk, exc_info=exc)


def record(kind: OutboxKind, row, outcome: Outcome, *, called: bool = True) -> None:
    """The outcome of a row's attempt (`called` False: decided without calling Meta)."""
    with transaction.atomic():
        if isinstance(outcome, Sent):
            kind.sent(row, outcome)
        elif row.give_up(outcome.reason, outcome.status, called=called):
            kind.not_sent(row)
        kind.changed(row)
    if isinstance(outcome, NotSent):
        logger.info("%s %s: %s", kind.describe(row), row.status, outcome.reason)


def defer(kind: OutboxKind, row, at: datetime, reason: str, waiting_for: str) -> None:
    with transaction.atomic():
        if row.defer(at, reason, waiting_for):
            kind.changed(row)


def wait_for_credentials(kind: OutboxKind, row, problem: str) -> None:
    """The account's token cannot be opened (FIELD_ENCRYPTION_KEY): nothing went to Meta, so
    the attempt is not counted; it is tried again every REPLY_STALLED_AFTER, or at once when
    every stored credential opens again (free_waiting_for_credentials)."""
    at = timezone.now() + timedelta(seconds=settings.REPLY_STALLED_AFTER)
    defer(kind, row, at, f"{WAITING_FOR_CREDENTIALS}: {problem}", WaitingFor.CREDENTIALS)
    logger.error(
        "CREDENTIALS PROBLEM: %s not sent, tried again at %s: %s", kind.describe(row), at, problem
    )


def retry_or_fail(kind: OutboxKind, row, reason: str, not_before: datetime | None = None) -> None:
    """After a failed attempt: another one later (backoff), or give up after the last."""
    if row.attempts >= settings.SEND_MAX_ATTEMPTS:
        logger.warning("%s failed after %d attempts: %s", kind.describe(row), row.attempts, reason)
        record(kind, row, NotSent(f"gave up after {row.attempts} attempts: {reason}"))
        return
    at = timezone.now() + timedelta(seconds=retry_delay(row.attempts))
    if not_before is not None:
        at = max(at, not_before)
    with transaction.atomic():
        if not row.retry_at(at, reason):
            logger.info("%s changed state meanwhile (%s): no retry", kind.describe(row), reason)
            return
        kind.changed(row)
    logger.info(
        "%s: attempt %d failed (%s); retrying at %s", kind.describe(row), row.attempts, reason, at
    )


def retry_delay(attempts: int) -> float:
    """Seconds before the next attempt, after `attempts` failed ones: backoff with jitter.

    Jitter spreads the retries of many sends that failed together (an outage) so they do not
    all hit Meta again in the same second.
    """
    ceiling = min(
        settings.SEND_RETRY_MAX_DELAY, settings.SEND_RETRY_BASE_DELAY * 2 ** (attempts - 1)
    )
    return random.uniform(ceiling / 2, ceiling)


def send_rate(account) -> float:
    """Calls a second this account may make: its own rate may only be lower than the
    service's (SEND_RATE_PER_SECOND, what Meta allows)."""
    own = account.max_sends_per_second if account else None
    if own:
        return min(own, settings.SEND_RATE_PER_SECOND)
    return settings.SEND_RATE_PER_SECOND
