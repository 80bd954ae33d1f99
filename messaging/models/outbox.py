"""The outbox's one state machine: every row that writes to Meta on a business's behalf (a
bot or staff message, a reply to a comment, an answer to a mention …) has these fields and
changes state only through these methods, each a conditional UPDATE.

    queued ──claim──▶ sending ──▶ sent
      ▲  ▲               │  └────▶ failed (last_error: why) · cancelled (why)
      │  └── retry_at ───┤        (also from queued: give_up)
      └───── defer ──────┘        (nothing reached Meta: the attempt is not counted)

The tables stay apart (an outgoing DM is a Message the inbox shows; a comment's reply is the
comment's): one base, so no DM pays for a second row. messaging.outbox sends them all.
"""

from datetime import datetime

from django.db import models
from django.db.models import F, Q
from django.utils import timezone


class OutboxStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    # Not sent, and not a failure: staff took over, no rule answers, nothing to say.
    CANCELLED = "cancelled", "Cancelled"


class WaitingFor(models.TextChoices):
    """Why a queued row's due time is later than it would be (empty: nothing)."""

    NOTHING = "", "—"
    # The account's token cannot be opened with FIELD_ENCRYPTION_KEY: freed when it opens.
    CREDENTIALS = "credentials", "Credentials"
    # The account's hourly limit of this kind of send is used up.
    HOURLY_LIMIT = "hour", "The hourly limit"
    # Meta answered "too fast" for the account, or its send pace is full.
    RATE = "rate", "The account's send rate"


class OutboxQuerySet(models.QuerySet):
    def due(self, now: datetime | None = None):
        """Queued, due, and held by no worker (a worker holds what it will send itself)."""
        return self.filter(
            status=OutboxStatus.QUEUED, due_at__lte=now or timezone.now(), claimed_by=""
        )

    def waiting_for_credentials(self):
        return self.filter(status=OutboxStatus.QUEUED, waiting_for=WaitingFor.CREDENTIALS)

    def free_waiting_for_credentials(self, now: datetime | None = None) -> int:
        """Due now, every row that waited for credentials (the key was fixed)."""
        return self.waiting_for_credentials().update(
            due_at=now or timezone.now(), waiting_for=WaitingFor.NOTHING
        )


class OutboxRow(models.Model):
    """What every outgoing row has: its state, when it is due, who holds it, how it went."""

    Status = OutboxStatus

    # Blank only on rows that are not sent by us (a customer's message, in Message).
    status = models.CharField(max_length=9, choices=OutboxStatus, blank=True)
    # When it may be claimed. NULL while it waits for another row (a later part of a message
    # waits for the part before it).
    due_at = models.DateTimeField(null=True, blank=True)
    waiting_for = models.CharField(max_length=11, choices=WaitingFor, blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # The worker (worker_identity.this_worker) holding it. Sending: the one sending it. Queued:
    # the one that stored it and sends it itself (a bot reply, sent by the worker that handled
    # the DM); empty while the sender's poll may take it. Work held by a worker whose
    # heartbeat stopped is taken back at once (messaging.recovery).
    claimed_by = models.CharField(max_length=200, blank=True)
    # When it was last claimed: stalls are measured from it, and hourly limits count it.
    claimed_at = models.DateTimeField(null=True, blank=True)

    objects = OutboxQuerySet.as_manager()

    class Meta:
        abstract = True

    # --- state changes; each a conditional UPDATE of this row -------------------------------

    @classmethod
    def claim(cls, pks, by: str, now: datetime | None = None) -> list:
        """Worker `by` takes the due rows among `pks` that no worker holds, for sending (one
        attempt each); returns the pks it took."""
        now = now or timezone.now()
        return cls._taken(pks, cls.objects.filter(pk__in=pks, claimed_by=""), by, now)

    @classmethod
    def claim_one(cls, pk: int, by: str, now: datetime | None = None) -> bool:
        """Worker `by` takes one due row, free or held by itself (a bot reply, sent once its
        DM commits), in one statement."""
        mine = cls.objects.filter(Q(claimed_by="") | Q(claimed_by=by), pk=pk)
        return bool(cls._take(mine, by, now or timezone.now()))

    @classmethod
    def claim_held(cls, pks, by: str, now: datetime | None = None) -> list:
        """Worker `by` takes the due rows among `pks` that are free or held by itself (the bot
        replies of a batch it handled), in one UPDATE; returns the pks it took."""
        mine = cls.objects.filter(Q(claimed_by="") | Q(claimed_by=by), pk__in=pks)
        return cls._taken(pks, mine, by, now or timezone.now())

    @classmethod
    def _taken(cls, pks, candidates, by: str, now: datetime) -> list:
        """Take `candidates` (rows among `pks`); the pks taken. Only when some were not taken
        is a second statement needed to tell which."""
        wanted = list(dict.fromkeys(pks))
        if cls._take(candidates, by, now) == len(wanted):
            return wanted
        return list(
            cls.objects.filter(
                pk__in=wanted, status=OutboxStatus.SENDING, claimed_by=by, claimed_at=now
            ).values_list("pk", flat=True)
        )

    @staticmethod
    def _take(rows, by: str, now: datetime) -> int:
        # What it sets, as_claimed sets on a row in hand: change both together.
        return rows.filter(status=OutboxStatus.QUEUED, due_at__lte=now).update(
            status=OutboxStatus.SENDING,
            claimed_by=by,
            claimed_at=now,
            waiting_for=WaitingFor.NOTHING,
            attempts=F("attempts") + 1,
        )

    def as_claimed(self, by: str, now: datetime) -> "OutboxRow":
        """This row as the claim (_take) of worker `by` at `now` left it in the database: for
        a caller that held the row since it stored it, and does not read it again."""
        self.status, self.claimed_by, self.claimed_at = OutboxStatus.SENDING, by, now
        self.waiting_for = WaitingFor.NOTHING
        self.attempts += 1
        return self

    @classmethod
    def take_over(
        cls,
        pk: int,
        by: str,
        *,
        from_worker: str | None = None,
        claimed_before: datetime | None = None,
    ) -> bool:
        """Worker `by` takes over a send its worker abandoned (it died mid-send): one held by
        `from_worker` (a dead worker), or claimed before `claimed_before` (the stall sweep).
        The new claim makes the recovery happen once; the dead worker's attempt stays counted."""
        abandoned = cls.objects.filter(pk=pk, status=OutboxStatus.SENDING)
        if from_worker is not None:
            abandoned = abandoned.filter(claimed_by=from_worker)
        if claimed_before is not None:
            abandoned = abandoned.filter(claimed_at__lt=claimed_before)
        return bool(abandoned.update(claimed_by=by, claimed_at=timezone.now()))

    @classmethod
    def let_go(cls, pk: int, from_worker: str) -> bool:
        """A queued row that `from_worker` held to send itself goes to the sender's poll."""
        held = cls.objects.filter(pk=pk, status=OutboxStatus.QUEUED, claimed_by=from_worker)
        return bool(held.update(claimed_by=""))

    def _change(self, allowed: tuple, **fields) -> bool:
        changed = type(self).objects.filter(pk=self.pk, status__in=allowed).update(**fields)
        if changed:
            for name, value in fields.items():
                if not hasattr(value, "resolve_expression"):
                    setattr(self, name, value)
        return bool(changed)

    def retry_at(self, at: datetime, reason: str) -> bool:
        """Back in the queue after a failed attempt, for another at `at`."""
        return self._change(
            (OutboxStatus.SENDING,),
            status=OutboxStatus.QUEUED,
            due_at=at,
            last_error=reason,
            claimed_by="",
        )

    def defer(self, at: datetime, reason: str, waiting_for: str = WaitingFor.RATE) -> bool:
        """Put a claimed row back until `at` without counting the attempt (nothing reached
        Meta: a rate, a limit, credentials that cannot be opened), nor its claim against an
        hourly limit."""
        deferred = self._change(
            (OutboxStatus.SENDING,),
            status=OutboxStatus.QUEUED,
            due_at=at,
            last_error=reason,
            waiting_for=waiting_for,
            claimed_by="",
            claimed_at=None,
            attempts=F("attempts") - 1,
        )
        if deferred:
            self.attempts -= 1
        return deferred

    def give_up(self, reason: str, status: str = OutboxStatus.FAILED, *, called=True) -> bool:
        """Failed for good, or cancelled; `reason` says why. `called` False: decided before
        any call to Meta, so its claim does not count against an hourly limit."""
        uncounted = {} if called else {"claimed_at": None}
        return self._change(
            (OutboxStatus.QUEUED, OutboxStatus.SENDING),
            status=status,
            last_error=reason,
            due_at=None,
            waiting_for=WaitingFor.NOTHING,
            **uncounted,
        )

    def requeue(self, at: datetime | None) -> bool:
        """Queue a failed row again, from a fresh count (an operator's retry). `at` None:
        it waits for another row first."""
        return self._change(
            (OutboxStatus.FAILED,),
            status=OutboxStatus.QUEUED,
            due_at=at,
            attempts=0,
            last_error="",
            claimed_by="",
        )
