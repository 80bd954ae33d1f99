"""The one sender: claims due rows of every kind, takes the account's send slot, calls Meta
through the kind's adapter, and records every outcome here, the same way for every kind:

sent · retried later with backoff · the account paused on a rate limit (every kind to it waits,
other accounts go on) · the account marked on 190 · waiting for credentials (never escaping a
pass, the attempt not counted) · failed for good with Meta's reason · cancelled.
"""

import logging
import random
import time
from collections import defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import IntegerField, Min, Value
from django.utils import timezone

from accounts.encryption import EncryptionKeyError
from messaging.models import HourlyQuota, SendThrottle, WaitingFor
from messaging.outbox.kinds import (
    QUOTA_WINDOW,
    NotSent,
    OutboxKind,
    Outcome,
    PermanentSendError,
    Sent,
    TransientSendError,
    registered,
)
from messaging.worker_identity import this_worker
from meta import graph

logger = logging.getLogger(__name__)

# Due rows one pass of the worker sends, at most: waiting DMs come between passes.
SENDS_PER_PASS = 10
# Accounts one pass looks at per kind under an hourly limit, at most.
ACCOUNTS_PER_PASS = 20
# How a row's last_error starts while it waits for credentials that cannot be opened (history
# imports word their wait the same way).
WAITING_FOR_CREDENTIALS = "waiting for credentials"
# A worker waits in-process for a send slot this close; a later slot defers the row.
MAX_SLOT_WAIT = timedelta(seconds=1)


def send_due(limit: int = SENDS_PER_PASS) -> int:
    """Claim and send up to `limit` due rows of every kind; returns how many were claimed
    (0: none due, or every account with some due has used its hour)."""
    now = timezone.now()
    done = 0
    kinds = kinds_with_rows_due(now)
    if not kinds:
        return 0
    accounts = _accounts_with_rows_due(now, kinds)
    for kind in kinds:
        if done >= limit:
            break
        claimed = _claim_due(kind, limit - done, now, accounts.get(kind.name, []))
        for pk in claimed:
            try:
                attempt(kind, pk)
            except DatabaseError:
                raise  # the database is away: the worker's loop waits, then tries again
            except Exception:
                # A bug in one kind must not stop every other send: this row stays claimed,
                # and the stall sweep puts it back after REPLY_STALLED_AFTER.
                logger.exception("%s %s: the send failed unexpectedly", kind.label, pk)
        done += len(claimed)
    return done


def send_now(kind: OutboxKind, pk: int) -> None:
    """Send one row at once (a bot reply, once the DM's transaction committed). Safe to call
    twice: only one call claims it."""
    if not kind.model.claim_one(pk, this_worker()):
        logger.info("%s %s is no longer due here: not sending it again", kind.label, pk)
        return
    attempt(kind, pk)


def kinds_with_rows_due(now: datetime) -> list[OutboxKind]:
    """The kinds with a row due, in the order registered: one statement over every kind's
    table (a UNION of one MIN each), since every pass of the worker asks, and a query per
    table cost an idle pass more than a DM's own work on PostgreSQL."""
    kinds = registered()
    parts = [
        kind.rows()
        .due(now)
        .order_by()
        .values(kind_index=Value(index, output_field=IntegerField()))
        .annotate(first_due=Min("due_at"))
        for index, kind in enumerate(kinds)
    ]
    if not parts:
        return []
    rows = parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]
    due = {row["kind_index"] for row in rows if row["first_due"] is not None}
    return [kind for index, kind in enumerate(kinds) if index in due]


def _accounts_with_rows_due(now: datetime, kinds: list[OutboxKind]) -> dict[str, list[str]]:
    """For each kind under an hourly limit, the accounts with rows due (some of them): one
    query per table, however many kinds share it."""
    tables = defaultdict(list)
    for kind in kinds:
        if kind.hourly_limit is not None:
            tables[kind.model, kind.account_id_field, kind.discriminator is not None].append(kind)
    accounts = defaultdict(list)
    for (model, account_field, shared), kinds in tables.items():
        if not shared:
            for kind in kinds:
                rows = kind.rows().due(now).order_by()
                ids = rows.values_list(account_field, flat=True).distinct()
                accounts[kind.name] = list(ids[:ACCOUNTS_PER_PASS])
            continue
        field = kinds[0].discriminator[0]
        named = {kind.discriminator[1]: kind.name for kind in kinds}
        due = model.objects.due(now).order_by().filter(**{f"{field}__in": list(named)})
        pairs = due.values_list(account_field, field)
        for account_id, value in pairs.distinct()[: ACCOUNTS_PER_PASS * len(kinds)]:
            accounts[named[value]].append(account_id)
    return accounts


def _claim_due(kind: OutboxKind, batch: int, now: datetime, accounts: list[str]) -> list[int]:
    if kind.hourly_limit is None:
        due = kind.rows().due(now).order_by(*kind.queue_order)
        picked = list(due.values_list("pk", flat=True)[:batch])
        return _in_order(picked, kind.model.claim(picked, this_worker(), now))
    claimed: list[int] = []
    for account_id in accounts[:ACCOUNTS_PER_PASS]:
        claimed += _claim_within_hour(kind, account_id, batch - len(claimed), now)
        if len(claimed) >= batch:
            break
    return claimed


def _claim_within_hour(kind: OutboxKind, account_id: str, batch: int, now: datetime) -> list:
    """Claim up to `batch` due rows of one account, oldest first, never more claims in any
    hour than its limit allows (counted over every kind sharing the limit), under the
    account's quota row lock: workers claiming at once cannot exceed it together. Over the
    limit, the rest wait until the hour frees a slot."""
    limit = kind.hourly_limit
    sharing = [other for other in registered() if other.hourly_limit == limit]
    HourlyQuota.ensure(account_id, limit.name)
    with transaction.atomic():
        HourlyQuota.lock(account_id, limit.name)

        def this_hour():
            return [_counted(other, account_id, now - QUOTA_WINDOW) for other in sharing]

        used = sum(claims.count() for claims in this_hour())
        due = (
            kind.rows()
            .due(now)
            .filter(**{kind.account_id_field: account_id})
            .order_by(*kind.queue_order)
        )
        exempt = kind.exempt_from_hour
        picked = list(due.filter(exempt).values_list("pk", flat=True)[:batch]) if exempt else []
        limited = due.exclude(exempt) if exempt else due
        room = min(batch - len(picked), limit.per_hour() - used)
        if room > 0:
            picked += list(limited.values_list("pk", flat=True)[:room])
        claimed = _in_order(picked, kind.model.claim(picked, this_worker(), now))
        claims = this_hour()
        if sum(each.count() for each in claims) >= limit.per_hour():
            oldest = min(
                (each.aggregate(Min("claimed_at"))["claimed_at__min"] or now for each in claims),
                default=now,
            )
            kind.waiting(limited)
            limited.update(due_at=oldest + QUOTA_WINDOW, waiting_for=WaitingFor.HOURLY_LIMIT)
    return claimed


def _counted(kind: OutboxKind, account_id: str, since: datetime):
    rows = kind.rows().filter(**{kind.account_id_field: account_id}, claimed_at__gt=since)
    return rows.exclude(kind.exempt_from_hour) if kind.exempt_from_hour else rows


def _in_order(picked: list[int], claimed: list[int]) -> list[int]:
    mine = set(claimed)
    return [pk for pk in picked if pk in mine]


def attempt(kind: OutboxKind, pk: int) -> None:
    """Send a row this worker claimed, and record what happened."""
    row = kind.load(pk)
    with kind.log_context(row):
        _attempt(kind, row)


def _attempt(kind: OutboxKind, row) -> None:
    if outcome := kind.prepare(row):
        record(kind, row, outcome, called=False)
        return
    account, account_id = kind.account(row), kind.account_id(row)
    client = None
    if kind.calls_meta:
        if account is not None and account.token_is_invalid:
            # Meta already refused this token: don't try until staff replace it.
            since = f"{account.token_invalid_since:%Y-%m-%d %H:%M} UTC"
            refused = NotSent(f"not sent: the account's access token is invalid since {since}")
            record(kind, row, refused, called=False)
            return
        try:
            client = graph.client_for(account)
        except EncryptionKeyError as exc:
            wait_for_credentials(kind, row, str(exc))
            return
        if later := take_send_slot(account_id, account):
            # The account's pace is used up, or Meta paused it: back then, attempt uncounted.
            defer(kind, row, later, "waiting for the account's send rate", WaitingFor.RATE)
            return
    try:
        outcome = kind.send(row, client)
    except PermanentSendError as exc:
        logger.warning("%s failed for good: %s", kind.describe(row), exc)
        record(kind, row, NotSent(str(exc)))
    except TransientSendError as exc:
        retry_or_fail(kind, row, str(exc))
    except EncryptionKeyError as exc:
        wait_for_credentials(kind, row, str(exc))
    except graph.InvalidTokenError as exc:
        logger.error(
            "CREDENTIALS PROBLEM: the Graph API rejected the access token for account %s; "
            "its sends fail until the token is replaced. %s failed: %s",
            account_id,
            kind.describe(row),
            exc,
        )
        if account is not None:
            account.mark_token_invalid(str(exc))
        record(kind, row, NotSent(f"invalid access token: {exc}"))
    except graph.PermanentGraphAPIError as exc:
        logger.warning("%s failed for good: %s", kind.describe(row), exc)
        record(kind, row, NotSent(str(exc)))
    except graph.RateLimitedError as exc:
        # Meta is throttling the account: every kind of send to it waits (its slot is paused),
        # the other accounts go on. Meta refused the pace, not this row: not counted.
        until = SendThrottle.pause(account_id, settings.SEND_RATE_LIMIT_PAUSE)
        logger.warning(
            "Meta is rate-limiting account %s: its sends pause until %s (%s)",
            account_id,
            until,
            exc,
        )
        defer(kind, row, until, str(exc), WaitingFor.RATE)
    except graph.TransientGraphAPIError as exc:
        retry_or_fail(kind, row, str(exc))
    else:
        record(kind, row, outcome)


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


def take_send_slot(account_id: str, account) -> datetime | None:
    """One call's slot of the account's send rate: taken (after waiting for it, when it is
    within MAX_SLOT_WAIT) and None returned, or the later moment to come back at."""
    slot = SendThrottle.reserve_slot(account_id, send_rate(account), MAX_SLOT_WAIT)
    if slot > timezone.now() + MAX_SLOT_WAIT:
        return slot
    _sleep_until(slot)
    return None


def _sleep_until(moment: datetime) -> None:
    wait = (moment - timezone.now()).total_seconds()
    if wait > 0:
        time.sleep(wait)
