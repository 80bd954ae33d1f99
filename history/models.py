"""What the Conversations API work keeps: each account's history import (its cursor, so an
interrupted import continues), each account's reconciliation passes, and the per-account pace of
calls to that API (Meta allows 2 a second), shared by every worker."""

from datetime import datetime, timedelta

from django.db import models, transaction
from django.db.models import F, Q
from django.utils import timezone

from messaging.models.throttles import AccountPace


class ConversationsApiThrottle(AccountPace):
    """How fast one account may call the Conversations API (Meta allows 2 calls a second)."""

    def __str__(self):
        return f"Conversations API pace of {self.instagram_account_id}"


class HistoryImport(models.Model):
    """An account's import of its recent conversations: one row per account, its cursor and
    counts updated after every page, so that it continues where it stopped."""

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"  # waiting for a worker (or for Meta's rate limit)
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"  # a permanent error; importing again continues from here

    account = models.OneToOneField(
        "accounts.InstagramBusinessAccount", on_delete=models.CASCADE, related_name="history_import"
    )
    state = models.CharField(max_length=8, choices=State, default=State.QUEUED)
    # Conversations last active before this are left out; empty: all Meta returns.
    since = models.DateTimeField(null=True, blank=True)
    # Meta's `after` cursor of the conversations page in hand ("" = the first page), and how
    # many conversations of that page are done: where a resumed import starts.
    cursor = models.TextField(blank=True)
    done_in_page = models.PositiveIntegerField(default=0)
    conversations_done = models.PositiveIntegerField("conversations", default=0)
    messages_imported = models.PositiveIntegerField("imported", default=0)
    messages_known = models.PositiveIntegerField("already stored", default=0)
    api_calls = models.PositiveIntegerField("API calls", default=0)
    # Queued: not before then (Meta's rate limit). Running: the last sign of progress; a run
    # silent far longer than a call takes was killed, and is taken over.
    not_before = models.DateTimeField(default=timezone.now)
    progress_at = models.DateTimeField(null=True, blank=True)
    requested_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField("finished", null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-requested_at"]
        indexes = [models.Index(fields=["state", "not_before"])]  # the sweep's look-up

    def __str__(self):
        return f"History import of {self.account} ({self.state})"

    @classmethod
    def request(cls, account, since: datetime | None) -> "HistoryImport":
        """Queue an import of `account`: a new one after a finished one, else the one in hand
        continues (from its cursor)."""
        with transaction.atomic():
            current, created = cls.objects.select_for_update().get_or_create(
                account=account, defaults={"since": since}
            )
            if created or current.state != cls.State.DONE:
                if current.state == cls.State.FAILED:
                    cls.objects.filter(pk=current.pk).update(
                        state=cls.State.QUEUED, error="", not_before=timezone.now()
                    )
                return cls.objects.get(pk=current.pk)
            now = timezone.now()
            cls.objects.filter(pk=current.pk).update(
                state=cls.State.QUEUED,
                since=since,
                cursor="",
                done_in_page=0,
                conversations_done=0,
                messages_imported=0,
                messages_known=0,
                api_calls=0,
                not_before=now,
                progress_at=None,
                requested_at=now,
                started_at=None,
                finished_at=None,
                error="",
            )
            return cls.objects.get(pk=current.pk)

    @classmethod
    def claim(cls, pk: int, stalled_before: datetime) -> bool:
        """Take the import for running: a queued one that is due, or a running one whose
        runner went silent before `stalled_before` (killed). One taker wins."""
        now = timezone.now()
        takeable = Q(state=cls.State.QUEUED, not_before__lte=now) | Q(
            state=cls.State.RUNNING, progress_at__lt=stalled_before
        )
        claimed = cls.objects.filter(takeable, pk=pk).update(
            state=cls.State.RUNNING, progress_at=now, error=""
        )
        if claimed:
            cls.objects.filter(pk=pk, started_at__isnull=True).update(started_at=now)
        return bool(claimed)

    def record_progress(
        self, *, cursor: str, done_in_page: int, conversations=0, imported=0, known=0, calls=0
    ) -> None:
        """After each conversation (and page): where to continue from, and the counts."""
        HistoryImport.objects.filter(pk=self.pk, state=self.State.RUNNING).update(
            cursor=cursor,
            done_in_page=done_in_page,
            conversations_done=F("conversations_done") + conversations,
            messages_imported=F("messages_imported") + imported,
            messages_known=F("messages_known") + known,
            api_calls=F("api_calls") + calls,
            progress_at=timezone.now(),
        )
        self.refresh_from_db()

    def wait_until(self, moment: datetime, reason: str) -> None:
        """Back to the queue until `moment` (Meta asked us to slow down)."""
        HistoryImport.objects.filter(pk=self.pk, state=self.State.RUNNING).update(
            state=self.State.QUEUED, not_before=moment, error=reason
        )
        self.refresh_from_db()

    def finish(self, state: str = State.DONE, error: str = "") -> None:
        HistoryImport.objects.filter(pk=self.pk, state=self.State.RUNNING).update(
            state=state, finished_at=timezone.now(), error=error
        )
        self.refresh_from_db()


class AccountReconciliation(models.Model):
    """An account's reconciliation with the Conversations API: when it last ran, what it
    found missing, and whether the webhook subscription looks broken."""

    account = models.OneToOneField(
        "accounts.InstagramBusinessAccount", on_delete=models.CASCADE, related_name="reconciliation"
    )
    # The next pass is due then; claimed by moving it on (one worker per pass).
    next_pass_at = models.DateTimeField(default=timezone.now)
    # Messages up to this moment have been checked: the next pass starts a little before it.
    checked_until = models.DateTimeField(null=True, blank=True)
    last_reconciled_at = models.DateTimeField(null=True, blank=True)
    last_found = models.PositiveIntegerField("found missing (last pass)", default=0)
    total_found = models.PositiveIntegerField("found missing (all passes)", default=0)
    last_api_calls = models.PositiveIntegerField("API calls (last pass)", default=0)
    last_error = models.TextField(blank=True)
    # Set while reconciliation finds customer messages no webhook brought, and none came for
    # longer than WEBHOOK_SILENCE_ALERT: Meta probably stopped delivering to us.
    subscription_suspect_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["next_pass_at"])]

    def __str__(self):
        return f"Reconciliation of {self.account}"

    @classmethod
    def add_missing(cls, accounts) -> None:
        """A state for each of `accounts` that has none yet (due at once): one query when
        none is missing."""
        missing = accounts.filter(reconciliation__isnull=True)
        cls.objects.bulk_create([cls(account=a) for a in missing], ignore_conflicts=True)

    @classmethod
    def due(cls, accounts):
        """The states of `accounts` whose pass is due, oldest due first, with their account."""
        due = cls.objects.filter(account__in=accounts, next_pass_at__lte=timezone.now())
        return due.select_related("account").order_by("next_pass_at", "pk")

    def claim(self, interval: timedelta) -> bool:
        """This worker takes the pass (False: another took it meanwhile); the next is due
        `interval` later."""
        now = timezone.now()
        taken = AccountReconciliation.objects.filter(pk=self.pk, next_pass_at__lte=now).update(
            next_pass_at=now + interval
        )
        if taken:
            self.next_pass_at = now + interval
        return bool(taken)

    def record_pass(self, *, checked_until: datetime, found: int, calls: int) -> None:
        self.checked_until, self.last_found, self.last_api_calls = checked_until, found, calls
        self.last_reconciled_at, self.last_error = timezone.now(), ""
        self.total_found = F("total_found") + found
        self.save(
            update_fields=[
                "checked_until",
                "last_found",
                "last_api_calls",
                "last_reconciled_at",
                "last_error",
                "total_found",
            ]
        )
        self.refresh_from_db(fields=["total_found"])

    def record_failure(self, reason: str, *, found: int, calls: int) -> None:
        """A pass cut short: what it found counts, but the next one checks the same span."""
        AccountReconciliation.objects.filter(pk=self.pk).update(
            last_error=reason,
            last_found=found,
            last_api_calls=calls,
            total_found=F("total_found") + found,
        )
        self.refresh_from_db()

    def suspect_subscription(self, suspect: bool) -> bool:
        """Set or clear the broken-subscription flag; True when this call newly set it."""
        if suspect:
            changed = AccountReconciliation.objects.filter(
                pk=self.pk, subscription_suspect_since__isnull=True
            ).update(subscription_suspect_since=timezone.now())
        else:
            changed = 0
            AccountReconciliation.objects.filter(pk=self.pk).update(subscription_suspect_since=None)
        self.refresh_from_db(fields=["subscription_suspect_since"])
        return bool(changed)
