"""How fast each account may call Meta: one row per account and API, shared by every worker."""

from datetime import datetime, timedelta

from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone


class AccountPace(models.Model):
    """One account's pace for one of Meta's APIs, which limits each account separately.

    Workers reserve slots here with a conditional UPDATE or under a row lock, so the rate holds
    across many workers.
    """

    instagram_account_id = models.CharField(max_length=64, unique=True)
    # The earliest moment the next call may go.
    next_slot_at = models.DateTimeField(null=True, blank=True)
    # Meta answered "rate limited": nothing goes for this account until then.
    paused_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    @classmethod
    def reserve_slot(
        cls, instagram_account_id: str, per_second: float, max_wait: timedelta, calls: int = 1
    ) -> datetime:
        """When this account's next call may go, honouring its rate and any pause.

        A slot within `max_wait` is taken (the next one moves 1/rate later; `calls` slots
        in a row: calls/rate later); a later one is only reported, for the caller to come
        back then. Row-locked: holds across workers.
        """
        slots, _ = cls.reserve_slots(instagram_account_id, per_second, max_wait, [calls])
        return slots[0]

    @classmethod
    def reserve_slots(
        cls, instagram_account_id: str, per_second: float, max_wait: timedelta, calls: list[int]
    ) -> tuple[list[datetime], int]:
        """Slots for several sends one after another (`calls`: each one's Graph calls), in
        one reservation: returns each send's slot and how many of them (the first n) got
        theirs. Send i's slot is the first's plus the calls before it at the rate; those of
        them within `max_wait` are taken, the others only reported (not reserved: no slot of
        the account's pace is spent on a send that does not go)."""
        now = timezone.now()
        offsets = [timedelta(seconds=sum(calls[:i]) / per_second) for i in range(len(calls))]

        def taking(n: int) -> timedelta:
            return timedelta(seconds=sum(calls[:n]) / per_second)

        # Most calls find the account's slot free: taken in one conditional UPDATE, with no
        # transaction and no read. Otherwise (a slot to wait for, a pause, the first call) the
        # row is locked and read.
        fitting = sum(1 for offset in offsets if offset <= max_wait)
        free_now = (Q(next_slot_at__isnull=True) | Q(next_slot_at__lte=now)) & (
            Q(paused_until__isnull=True) | Q(paused_until__lte=now)
        )
        taken = cls.objects.filter(free_now, instagram_account_id=instagram_account_id).update(
            next_slot_at=now + taking(fitting)
        )
        if taken:
            return [now + offset for offset in offsets], fitting
        # The account's first call creates its row before any lock is taken: on MySQL/MariaDB
        # two workers locking a row that does not exist yet take gap locks, and their inserts
        # then deadlock each other.
        cls.objects.get_or_create(instagram_account_id=instagram_account_id)
        with transaction.atomic():
            pace = cls.objects.select_for_update().get(instagram_account_id=instagram_account_id)
            slot = max(now, pace.next_slot_at or now, pace.paused_until or now)
            fitting = sum(1 for offset in offsets if slot + offset <= now + max_wait)
            if fitting:
                pace.next_slot_at = slot + taking(fitting)
                pace.save(update_fields=["next_slot_at"])
        return [slot + offset for offset in offsets], fitting

    @classmethod
    def paused_until_of(cls, instagram_account_id: str) -> datetime | None:
        rows = cls.objects.filter(instagram_account_id=instagram_account_id)
        return rows.values_list("paused_until", flat=True).first()

    @classmethod
    def pause(cls, instagram_account_id: str, seconds: float) -> datetime:
        """Meta said "too fast" for this account: hold its calls, and only its, for a while."""
        until = timezone.now() + timedelta(seconds=seconds)
        cls.objects.update_or_create(
            instagram_account_id=instagram_account_id, defaults={"paused_until": until}
        )
        return until


class SendThrottle(AccountPace):
    """How fast one Instagram account may send messages (the Send API)."""

    def __str__(self):
        return f"Throttle for {self.instagram_account_id}"


class HourlyQuota(models.Model):
    """The row that serialises claims under one of an account's hourly limits (private
    replies, public replies …): its lock is the point; the hour is counted from the claimed_at
    of the rows that share the limit (messaging.outbox)."""

    instagram_account_id = models.CharField(max_length=64)
    limit = models.CharField(max_length=32)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["instagram_account_id", "limit"], name="one_quota")
        ]

    def __str__(self):
        return f"{self.limit} of {self.instagram_account_id}"

    @classmethod
    def lock(cls, instagram_account_id: str, limit: str) -> None:
        """Lock the account's row until the transaction ends. The row is created first, in a
        transaction of its own: locking a row that does not exist yet locks a gap of the
        index, and two workers inserting into the gap they both locked deadlock (InnoDB)."""
        if not transaction.get_connection().in_atomic_block:
            raise RuntimeError("HourlyQuota.lock() holds the lock only inside a transaction")
        rows = cls.objects.select_for_update().filter(
            instagram_account_id=instagram_account_id, limit=limit
        )
        list(rows.values_list("pk", flat=True))

    @classmethod
    def ensure(cls, instagram_account_id: str, limit: str) -> None:
        """Create the account's row if it is not there (outside the claim's transaction)."""
        cls.objects.get_or_create(instagram_account_id=instagram_account_id, limit=limit)
