"""The one sender: claims due rows of every kind, takes the account's send slots, calls Meta
through the kind's adapter, and records every outcome through the one path (outcomes.py), the
same way for every kind.

A round of the sender, in the pass's thread but for the calls themselves:

    claim (claiming.py: the oldest due rows, at most SENDS_PER_ACCOUNT of an account)
    ─▶ prepare: the round's rows read in one query per kind (load_many; rows a caller
       handed over in hand are not read again), each row's checks and token, then a slot of
       its account's pace per Graph call (one reservation per account for its rows of the
       round: the slots of a round are the account's pace)
    ─▶ the calls, side by side in a pool of SEND_THREADS threads over kept-alive connections
       (only the network there: each waits for its slot, then calls; rows of one conversation
       one after another, in queue order)
    ─▶ each call recorded as soon as it ends, with those that ended meanwhile: the sent ones
       together (a few statements for them all), every other outcome row by row

Sends that call no Meta (outgoing webhooks, flows' external requests: `calls_meta` False) take
no part in a round: the pass hands them to a pool of their own (OffPath) and records each at a
later pass once it is answered, never waiting for them, so a slow endpoint never holds up a DM.
"""

import contextvars
import logging
import queue
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable
from concurrent.futures import Future, wait
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

from accounts.encryption import EncryptionKeyError
from messaging.models import OutboxRow, SendThrottle, WaitingFor
from messaging.outbox import outcomes
from messaging.outbox.calls import Call, Pool, Round, in_pool, make_call
from messaging.outbox.claiming import SENDS_PER_ACCOUNT, claim_round, kinds_with_rows_due
from messaging.outbox.kinds import NotSent, OutboxKind
from messaging.outbox.outcomes import defer, record, wait_for_credentials
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


def send_now_many(kind: OutboxKind, pks: list[int], in_hand: Iterable[OutboxRow] = ()) -> None:
    """Send rows this worker stored and holds at once (the bot replies of a batch of
    deliveries), in rounds as the poll's (at most SENDS_PER_PASS, at most SENDS_PER_ACCOUNT
    of one account): side by side, each conversation's in the order given. Each round's rows
    are claimed in one statement just before it (one alone: claim_one), so a worker killed
    mid-round leaves the later rounds' rows held, not in doubt. The rows no longer due here
    are skipped. A round the database failed does not stop the next ones (the first error is
    raised at the end): the later rounds' customers need not wait for the stall sweep.
    `in_hand`: rows of `pks` as the caller stored them and holds them since: once claimed,
    sent as they are, not read again (those kind.in_hand finds complete)."""
    held = {row.pk: row for row in in_hand}
    deferred: dict[str, datetime] = {}  # account id: when its rows left for later may go
    failure = None
    for round_pks in _rounds(kind, pks, held):
        try:
            now, me = timezone.now(), this_worker()
            if len(round_pks) == 1:
                mine = round_pks if kind.model.claim_one(round_pks[0], me, now) else []
            else:
                mine = kind.model.claim_held(round_pks, me, now)
            taken = set(mine)
            for pk in set(round_pks) - taken:
                logger.info("%s %s is no longer due here: not sending it again", kind.label, pk)
            claimed = [(kind, pk) for pk in round_pks if pk in taken]
            as_claimed = {
                key: held[key[1]].as_claimed(me, now) for key in claimed if key[1] in held
            }
            send_claimed(claimed, deferred, as_claimed)
        except DatabaseError as exc:
            # Its rows say queued or sending: the sweep puts them back to work later.
            logger.error("%s: a round of %s could not be sent now: %s", kind.label, round_pks, exc)
            failure = failure or exc
    if failure is not None:
        raise failure


def _rounds(kind: OutboxKind, pks: list[int], held: dict) -> list[list[int]]:
    """`pks` in rounds (in the order given): at most SENDS_PER_PASS in a round and
    SENDS_PER_ACCOUNT of one account; an account's rows never in an earlier round than the
    row before them (so every conversation's stay in order). A few (SENDS_PER_ACCOUNT or
    fewer) are one round, with no statement to tell their accounts; nor for the rows `held`
    in hand (pk: row)."""
    if len(pks) <= min(SENDS_PER_ACCOUNT, SENDS_PER_PASS):
        return [pks] if pks else []
    account_of = {pk: kind.account_id(row) for pk, row in held.items() if kind.in_hand(row)}
    if unknown := [pk for pk in pks if pk not in account_of]:
        rows = kind.rows().filter(pk__in=unknown).order_by()
        account_of.update(rows.values_list("pk", kind.account_id_field))
    rounds: list[list[int]] = []
    per_account: list[Counter] = []
    after: dict = {}  # account id: the round of its last row placed
    for pk in pks:
        account_id = account_of.get(pk)
        number = after.get(account_id, 0)
        while number < len(rounds) and (
            len(rounds[number]) >= SENDS_PER_PASS
            or per_account[number][account_id] >= SENDS_PER_ACCOUNT
        ):
            number += 1
        if number == len(rounds):
            rounds.append([])
            per_account.append(Counter())
        rounds[number].append(pk)
        per_account[number][account_id] += 1
        after[account_id] = number
    return rounds


def settle() -> int:
    """Wait for the sends that call no Meta still under way, and record them (a one-pass
    worker before it ends, a worker stopping, tests). Returns how many were recorded."""
    return OFF_PATH.record_answered(wait_for_all=True)


def send_claimed(
    claimed: list[tuple[OutboxKind, int]],
    deferred: dict[str, datetime] | None = None,
    in_hand: dict | None = None,
) -> None:
    """Prepare, call and record rows this worker claimed (in queue order), as one round.
    `deferred`: the accounts whose rows an earlier round of the same hand-over left for later,
    and when they go (updated): this round's rows of theirs wait with them, in queue order.
    `in_hand`: (kind, pk): the row as claimed, held by the caller (not read again)."""
    round_ = Round()
    loaded = _loaded(claimed, in_hand)
    prepared = [_guarded(_prepared, kind, row, round_) for kind, row in loaded]
    calls = _paced(
        [call for call in prepared if call is not None], {} if deferred is None else deferred
    )
    side_by_side = [call for call in calls if call.kind.concurrent]
    chains = defaultdict(list)
    for call in side_by_side:
        key = call.kind.order_key(call.row)
        chains[key if key is not None else ("row", id(call))].append(call)
    failure, not_made = None, []
    if len(chains) > 1:
        ended = queue.SimpleQueue()
        for chain in chains.values():
            SEND_POOL.submit(in_pool, chain, ended)
        # Each call recorded as soon as it ends, with those that ended meanwhile (together: a
        # few statements for them all): a worker killed meanwhile leaves in doubt (sent again
        # after the stall sweep) only the calls still under way.
        waiting = len(side_by_side)
        while waiting:
            just_ended = [ended.get()]  # a call ended: it, and those that ended meanwhile
            while not ended.empty():
                just_ended.append(ended.get())
            waiting -= len(just_ended)
            failure = _recorded(_made(just_ended, not_made)) or failure
    else:
        for chain in chains.values():  # one: no thread to hand it to
            for call in chain:
                call.context.run(make_call, call)
                failure = _recorded(_made([call], not_made)) or failure
    for call in calls:
        if not call.kind.concurrent:
            call.context.run(make_call, call)
            failure = _recorded(_made([call], not_made)) or failure
    # Last, those not called for what Meta told another call of their account: they take the
    # pause, or the refusal, that call recorded.
    failure = _recorded(not_made) or failure
    if failure is not None:
        raise failure  # the database is away: the worker's loop waits, then tries again


def _made(calls: list[Call], not_made: list[Call]) -> list[Call]:
    """The calls made (or failed) of `calls`; those not made are kept in `not_made`."""
    not_made += [call for call in calls if call.not_made]
    return [call for call in calls if not call.not_made]


def _recorded(calls: list[Call]) -> DatabaseError | None:
    """Record each call; the database's error, if it failed us, for the caller to raise once
    the round's other calls are recorded."""
    try:
        outcomes.record_each(calls)
    except DatabaseError as exc:
        return exc
    return None


def _loaded(
    claimed: list[tuple[OutboxKind, int]], in_hand: dict | None = None
) -> list[tuple[OutboxKind, object]]:
    """The claimed rows, in the claimed order: those `in_hand` ((kind, pk): row) as they are,
    the others read with one query per kind (load_many)."""
    in_hand = {key: row for key, row in (in_hand or {}).items() if _usable_in_hand(*key, row)}
    pks = defaultdict(list)
    for kind, pk in claimed:
        if (kind, pk) not in in_hand:
            pks[kind].append(pk)
    rows = defaultdict(dict)
    for (kind, pk), row in in_hand.items():
        rows[kind][pk] = row
    for kind, of_kind in pks.items():
        try:
            rows[kind].update(kind.load_many(of_kind))
        except DatabaseError:
            raise  # the database is away: the worker's loop waits, then tries again
        except Exception:
            # One by one, then: a row that cannot be read stops no other.
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


def _usable_in_hand(kind: OutboxKind, pk: int, row) -> bool:
    """Whether a row in hand is sent as it is: it has what send() reads (kind.in_hand), and
    its account (read up to a few seconds ago) is not one whose token Meta refused, which
    staff may have replaced since: that one is read again, as _prepared would fail it."""
    if not kind.in_hand(row):
        return False
    account = kind.account(row)
    return account is None or not account.token_is_invalid


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
        client = None
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
        context = contextvars.copy_context()
    return Call(kind, row, account, account_id, client, None, context, round_)


def _paced(calls: list[Call], deferred: dict[str, datetime]) -> list[Call]:
    """A slot of its account's pace for each call to Meta: one reservation per account for its
    calls of the round (all their Graph calls), each call's slot where its own Graph calls
    start. A call whose slot is further than MAX_SLOT_WAIT is deferred, its attempt not
    counted (the account's pace is used up, or Meta paused it). Returns the calls to make."""
    of_account = defaultdict(list)
    for call in calls:
        if call.kind.calls_meta:
            of_account[call.account_id].append(call)
    left_out = set()
    for account_id, theirs in of_account.items():
        try:
            left_out.update(id(call) for call in _pace_account(account_id, theirs, deferred))
        except DatabaseError:
            raise  # the database is away: the worker's loop waits, then tries again
        except Exception:
            # A bug must not stop the other accounts' sends: these rows stay claimed, and the
            # stall sweep puts them back after REPLY_STALLED_AFTER.
            logger.exception("Account %s: its sends' pace could not be taken", account_id)
            left_out.update(id(call) for call in theirs)
    return [call for call in calls if id(call) not in left_out]


def _pace_account(account_id: str, theirs: list[Call], deferred: dict[str, datetime]) -> list[Call]:
    """Slots for one account's calls of the round, in one reservation; returns those
    deferred. Those not given a slot all wait for the one after the last reserved, the same
    time: due together, they go in queue order again. An account whose rows an earlier round
    of the same hand-over deferred has none reserved now (a customer's later reply must not
    overtake an earlier one)."""
    if account_id in deferred:
        slots, reserved = [deferred[account_id]] * len(theirs), 0
    else:
        rate = send_rate(theirs[0].account)
        graph_calls = [call.kind.graph_calls(call.row) for call in theirs]
        slots, reserved = SendThrottle.reserve_slots(account_id, rate, MAX_SLOT_WAIT, graph_calls)
    left = []
    for index, call in enumerate(theirs):
        # Those not reserved wait for the first slot not reserved, all of them.
        call.slot = slots[min(index, reserved)]
        if index >= reserved:
            _guarded(_defer_for_pace, call.kind, call.row, call.slot)
            left.append(call)
    if left:
        deferred[account_id] = left[0].slot
    return left


def _defer_for_pace(kind: OutboxKind, row, at: datetime) -> None:
    with kind.log_context(row):
        defer(kind, row, at, "waiting for the account's send rate", WaitingFor.RATE)


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
            outcomes.record_each([self.in_flight.pop(future) for future in answered])
            return len(answered)

    def forget(self) -> None:
        """Wait for the calls under way and record none of them (tests: their rows are gone)."""
        with self.lock:
            wait(list(self.in_flight))
            self.in_flight.clear()


OFF_PATH = OffPath()


def send_rate(account) -> float:
    """Calls a second this account may make: its own rate may only be lower than the
    service's (SEND_RATE_PER_SECOND, what Meta allows)."""
    own = account.max_sends_per_second if account else None
    if own:
        return min(own, settings.SEND_RATE_PER_SECOND)
    return settings.SEND_RATE_PER_SECOND
