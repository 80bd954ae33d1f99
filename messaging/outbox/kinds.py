"""What differs between kinds of sends, as one small adapter per kind (healthchecks has a
transport per integration): which rows, the Graph call, what "sent" updates. Feature apps
register theirs in their AppConfig.ready(); the core never imports them."""

from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from messaging.models import OutboxRow, OutboxStatus

# Meta's limits on replies are counted per hour.
QUOTA_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class Sent:
    """Meta has it: its id for what was sent, and how we know when not from this call."""

    external_id: str
    recipient_id: str = ""
    note: str = ""
    # What the call answered, for sent() to record in the pass's thread (send() runs in the
    # sender's pool and touches no database): a flow's external request's JSON.
    answer: Any = field(default=None, compare=False)


@dataclass(frozen=True)
class NotSent:
    """Given up without (or after) a call: failed with Meta's reason, or cancelled."""

    reason: str
    status: str = OutboxStatus.FAILED


Outcome = Sent | NotSent


class PermanentSendError(Exception):
    """A kind that calls no Graph API (an outgoing webhook): the other side refused it for
    good (failed, with this reason)."""


class TransientSendError(Exception):
    """A kind that calls no Graph API: worth another attempt later (the outbox's backoff)."""


@dataclass(frozen=True)
class HourlyLimit:
    """An hourly limit per account, shared by the kinds that name it (a mention's answer is a
    public comment: it shares the public replies' hour)."""

    name: str
    setting: str  # the setting that holds the number a hour

    def per_hour(self) -> int:
        return getattr(settings, self.setting)


class OutboxKind:
    """One kind of send. Subclasses set the class attributes and implement send()."""

    name: str  # stable: stored nowhere, used in logs and the admin's filter
    label: str
    model: type[OutboxRow]
    account_id_field = "instagram_account_id"
    # For the admin's list of every send: the path to its account (accounts.access.scope),
    # and the row staff open to see it in context (its field, and that model's admin).
    account_path = "account"
    context_field: str
    context_admin: str  # "app_model", as in admin URL names
    hourly_limit: HourlyLimit | None = None
    # Kinds sharing a table: the column and value that tell this kind's rows apart, so that
    # one query per table finds which accounts have rows due (the sender's pass).
    discriminator: tuple[str, str] | None = None
    # Rows exempt from the hourly limit (live comments' private replies: Meta limits those
    # per second), or None.
    exempt_from_hour: Q | None = None
    # The oldest first, in this order.
    queue_order: tuple[str, ...] = ("due_at", "pk")
    # After its worker died mid-send: sent again (a duplicate is possible) or given up with
    # this reason (what could appear twice in public is never sent twice).
    given_up_after_stall = ""
    # False: its send() calls someone else (an outgoing webhook): no Graph client, no
    # account token or send pace; it raises PermanentSendError or TransientSendError. Such
    # sends never hold up a DM: they go out in a pool of their own, the pass never waiting
    # for them (sender.py).
    calls_meta = True
    # True: send() makes network calls only, no database (the row comes from load() with
    # everything it needs): the sender runs it in its pool of threads, beside the others.
    # False: run in the pass's thread, one at a time (a send that reads or writes rows
    # between its calls).
    concurrent = True

    def rows(self):
        if self.discriminator:
            return self.model.objects.filter(**dict([self.discriminator]))
        return self.model.objects.all()

    def listed(self):
        """Its rows in the admin's list of every send (rows() less any it shows elsewhere)."""
        return self.rows()

    def load(self, pk: int) -> OutboxRow:
        return self.model.objects.get(pk=pk)

    def load_many(self, pks: list[int]) -> dict:
        """Rows by pk, with everything send() reads (it may not read the database)."""
        return {pk: self.load(pk) for pk in pks}

    def in_hand(self, row) -> bool:
        """Whether a row its caller holds (sender.send_now_many's in_hand) has everything
        send() reads, as load_many would read it; if not, the sender reads it. A kind whose
        rows are handed over says so."""
        return False

    def account(self, row):
        return row.account

    def account_id(self, row) -> str:
        return row.instagram_account_id

    def describe(self, row) -> str:
        return f"{self.label} {row.pk}"

    @contextmanager
    def log_context(self, row) -> Iterator[None]:
        yield

    def prepare(self, row) -> Outcome | None:
        """Before any Graph call: an outcome that needs none (cancelled, too late), or None."""
        return None

    def graph_calls(self, row) -> int:
        """How many Send API calls send() makes: each takes a slot of the account's pace."""
        return 1

    def order_key(self, row) -> Hashable | None:
        """Rows with the same key go out one after another, in queue order, never side by
        side: ("conversation", its id) for the DMs of every kind to one customer. None: no
        order to keep with other rows."""
        return None

    def send(self, row, client) -> Outcome:
        """The Graph call(s); graph errors are the sender's to record. Runs in the sender's
        pool (unless `concurrent` is False): no database here, only the network."""
        raise NotImplementedError

    def sent(self, row, outcome: Sent) -> None:
        """Record it sent (in the sender's transaction)."""
        raise NotImplementedError

    def sent_together(self, sent: list[tuple[Any, Sent]]) -> None:
        """Record several sent at once (in the sender's transaction): calls of a round that
        ended together. A kind may do it in fewer statements than one sent() each; if it
        raises, the sender records them one by one."""
        for row, outcome in sent:
            self.sent(row, outcome)

    def not_sent(self, row) -> None:
        """After the row failed or was cancelled (in the sender's transaction)."""

    def changed(self, row) -> None:
        """After any change of the row's state (in the sender's transaction)."""

    def waiting(self, rows) -> None:
        """Before `rows` are put to wait for the hourly limit."""

    def requeue(self, row) -> bool:
        """Queue a failed row again, due now (an account connected again)."""
        return row.requeue(timezone.now())

    def after_stall(self, row) -> Outcome | None:
        """Its worker died mid-send: an outcome known without sending (an echo came), or None."""
        if self.given_up_after_stall:
            return NotSent(self.given_up_after_stall)
        return None


_kinds: dict[str, OutboxKind] = {}


def register(kind: OutboxKind) -> None:
    """Called from an AppConfig.ready(); sent in the order registered (DMs first)."""
    _kinds[kind.name] = kind


def registered() -> list[OutboxKind]:
    return list(_kinds.values())


def kind_named(name: str) -> OutboxKind:
    return _kinds[name]
