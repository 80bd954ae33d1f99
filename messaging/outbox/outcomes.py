"""The one outcome path of the outbox's sends, the same for every kind (sender.py calls, this
records, in the pass's thread):

sent · retried later with backoff · the account paused on a rate limit (every kind to it waits,
other accounts go on) · the account marked on 190 · waiting for credentials (never escaping a
pass, the attempt not counted) · failed for good with Meta's reason · cancelled.

The sends of a round that ended together are recorded sent together (kind.sent_together: a
few statements for them all), every other outcome row by row.
"""

import logging
import random
from collections import defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone

from accounts.encryption import EncryptionKeyError
from messaging.models import SendThrottle, WaitingFor
from messaging.outbox.calls import PAUSED, REFUSED, Call
from messaging.outbox.claiming import WAITING_FOR_CREDENTIALS
from messaging.outbox.kinds import (
    NotSent,
    OutboxKind,
    Outcome,
    PermanentSendError,
    Sent,
    TransientSendError,
)
from meta import graph

logger = logging.getLogger(__name__)

# Why a row goes again after Meta refused a token that staff had replaced meanwhile.
REPLACED_WHILE_SENDING = "the account's token was replaced while this was sent"


def record_each(calls: list[Call]) -> None:
    """Each call's outcome; those sent, of a kind, together (kind.sent_together, one
    transaction), or one by one if that fails. One that cannot be recorded stops no other."""
    together = defaultdict(list)
    for call in calls:
        if call.error is None and not call.not_made and isinstance(call.outcome, Sent):
            together[call.kind].append(call)
    groups = [sent for sent in together.values() if len(sent) > 1]
    grouped = {id(call) for sent in groups for call in sent}
    alone = [call for call in calls if id(call) not in grouped]
    failure = None
    for sent in groups:
        kind = sent[0].kind
        try:
            record_sent(kind, [(call.row, call.outcome) for call in sent])
        except Exception as exc:
            # Two sent with the same id, a bug in one row …: each on its own says which.
            logger.info("%d %s sent together: recorded one by one (%r)", len(sent), kind.name, exc)
            alone += sent
    for call in alone:
        try:
            with call.kind.log_context(call.row):
                record_call(call)
        except DatabaseError as exc:
            failure = failure or exc  # the others' outcomes are recorded if they can be
        except Exception:
            # A bug in one kind must not stop every other send: this row stays claimed, and
            # the stall sweep puts it back after REPLY_STALLED_AFTER.
            logger.exception("%s %s: recording the send failed", call.kind.label, call.row.pk)
    if failure is not None:
        raise failure  # the database is away: the worker's loop waits, then tries again


def record_call(call: Call) -> None:
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
    if call.not_made == REFUSED and account_id in call.round.replaced:
        # The token another call was refused had been replaced: this one goes with the new
        # one, its attempt not counted (it was not called).
        defer(kind, row, timezone.now(), REPLACED_WHILE_SENDING, WaitingFor.NOTHING)
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
        replaced = account_id in call.round.replaced  # found by another call of the round
        if replaced or (account is not None and not account.mark_token_invalid(str(exc))):
            # Staff replaced the token since the row's account was read: the new one goes.
            call.round.replaced.add(account_id)
            retry_or_fail(kind, row, f"{REPLACED_WHILE_SENDING}: {exc}")
            return
        logger.error(
            "CREDENTIALS PROBLEM: the Graph API rejected the access token for account %s; "
            "its sends fail until the token is replaced. %s failed: %s",
            account_id,
            kind.describe(row),
            exc,
        )
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
    if isinstance(outcome, Sent):
        record_sent(kind, [(row, outcome)])
        return
    with transaction.atomic():
        if row.give_up(outcome.reason, outcome.status, called=called):
            kind.not_sent(row)
        kind.changed(row)
    if isinstance(outcome, NotSent):
        logger.info("%s %s: %s", kind.describe(row), row.status, outcome.reason)


def record_sent(kind: OutboxKind, sent: list[tuple[object, Sent]]) -> None:
    """Rows Meta accepted, recorded together in one transaction (kind.sent_together)."""
    with transaction.atomic():
        kind.sent_together(sent)
        for row, _ in sent:
            kind.changed(row)


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
