"""Webhook deliveries: Meta's POSTs stored raw, and the workers' queue of them."""

from datetime import datetime

from django.db import models
from django.utils import timezone

# Headers kept with each raw delivery: enough to re-check and to debug, nothing secret.
STORED_HEADERS = ("Content-Type", "Content-Length", "User-Agent", "X-Hub-Signature-256")


def _kept(headers) -> dict:
    return {name: headers[name] for name in STORED_HEADERS if name in headers}


class WebhookDelivery(models.Model):
    """A webhook POST from Meta, stored raw before anything else happens.

    The webhook stores it, then answers Meta. This table is also the workers' queue of
    deliveries: a worker takes the waiting ones, oldest first, and handles their events
    (receiving.take_waiting_deliveries). Nothing accepted is lost: whatever goes wrong after
    this row is written, the delivery can be handled from it again.
    """

    class State(models.TextChoices):
        RECEIVED = "received", "Received"  # stored, waiting for a worker
        PROCESSING = "processing", "Processing"  # a worker claimed it
        PROCESSED = "processed", "Processed"
        # Handling some event raised: re-processing after a fix is safe (it is idempotent).
        FAILED = "failed", "Failed"
        # Signed by Meta but not a payload we can read.
        REJECTED = "rejected", "Rejected"
        # An account's stored credentials could not be opened (FIELD_ENCRYPTION_KEY): the
        # sweep queues it again once they can (credentials_wait.queue_work_waiting_for_credentials).
        WAITING_FOR_CREDENTIALS = "waiting", "Waiting for credentials"

    received_at = models.DateTimeField(default=timezone.now)
    body = models.BinaryField()
    headers = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=16, choices=State, default=State.RECEIVED)
    # While received: from when a worker may take it (now, unless the database failed its
    # handling and it waits to be tried again). While processing: when a worker claimed it;
    # the sweep puts back one claimed far longer ago (its worker was killed).
    handling_since = models.DateTimeField(default=timezone.now)
    # The worker (worker_identity.this_worker) that claimed it last. A delivery still
    # processing whose worker's heartbeat stopped is put back at once
    # (recovery.recover_work_of_dead_workers). Not indexed: that query filters on the state
    # first (the index below), which leaves the few deliveries being handled right now.
    claimed_by = models.CharField(max_length=200, blank=True)
    # Why it failed or was rejected; also notes events that were skipped.
    error = models.TextField(blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        ordering = ["-received_at"]
        # The admin's list, the workers' queue and the sweep. One index only: every
        # index is one more write while Meta waits for the webhook's answer.
        indexes = [models.Index(fields=["state", "received_at"])]

    def __str__(self):
        return f"Delivery {self.pk} ({self.state}) at {self.received_at:%Y-%m-%d %H:%M:%S}"

    @classmethod
    def record(cls, body: bytes, headers, **fields) -> "WebhookDelivery":
        return cls.objects.create(body=body, headers=_kept(headers), **fields)

    @classmethod
    def waiting(cls, limit: int) -> list["WebhookDelivery"]:
        """The deliveries a worker may take now, first come first (so a customer's messages
        are handled in the order they came), in the (state, received_at) index's order; with
        what a worker reads to handle them (the body and headers: they never change once
        stored), in one query for the batch rather than one per delivery."""
        waiting = cls.objects.filter(state=cls.State.RECEIVED, handling_since__lte=timezone.now())
        first_come = waiting.order_by("received_at", "pk")
        return list(first_come.only("pk", "received_at", "body", "headers")[:limit])

    @classmethod
    def claim(cls, pk: int, by: str) -> bool:
        """Worker `by` takes a received delivery for handling; False if it is not waiting (any
        more)."""
        waiting = cls.objects.filter(pk=pk, state=cls.State.RECEIVED)
        return (
            waiting.update(state=cls.State.PROCESSING, handling_since=timezone.now(), claimed_by=by)
            == 1
        )

    @classmethod
    def claim_all(cls, deliveries: list["WebhookDelivery"], by: str) -> list["WebhookDelivery"]:
        """Worker `by` takes those of `deliveries` still waiting, in one UPDATE; returns those
        it took, in their order. Of workers racing for one, one takes it: the UPDATE's
        condition is checked row by row under the row's lock."""
        now = timezone.now()
        pks = [delivery.pk for delivery in deliveries]
        waiting = cls.objects.filter(pk__in=pks, state=cls.State.RECEIVED, handling_since__lte=now)
        taken = waiting.update(state=cls.State.PROCESSING, handling_since=now, claimed_by=by)
        if taken == len(pks):
            return list(deliveries)
        if not taken:
            return []
        # Some went to another worker: those that are this claim's (its time is its mark).
        mine = cls.objects.filter(
            pk__in=pks, state=cls.State.PROCESSING, claimed_by=by, handling_since=now
        )
        held = set(mine.values_list("pk", flat=True))
        return [delivery for delivery in deliveries if delivery.pk in held]

    @classmethod
    def finish_all(cls, deliveries: list["WebhookDelivery"], state: str) -> None:
        """finish() for many, with no error to note, in one UPDATE."""
        if not deliveries:
            return
        now = timezone.now()
        cls.objects.filter(pk__in=[delivery.pk for delivery in deliveries]).update(
            state=state, error="", processed_at=now
        )
        for delivery in deliveries:
            delivery.state, delivery.error, delivery.processed_at = state, "", now

    @classmethod
    def take_back(
        cls, pk: int, *, from_worker: str | None = None, claimed_before: datetime | None = None
    ) -> bool:
        """Put a delivery whose worker stopped while handling it back in the queue: one claimed
        by `from_worker` (a dead worker), or before `claimed_before` (the stall sweep). False if
        it is no longer that claim: finished meanwhile, or taken back already."""
        abandoned = cls.objects.filter(pk=pk, state=cls.State.PROCESSING)
        if from_worker is not None:
            abandoned = abandoned.filter(claimed_by=from_worker)
        if claimed_before is not None:
            abandoned = abandoned.filter(handling_since__lt=claimed_before)
        return bool(abandoned.update(state=cls.State.RECEIVED, handling_since=timezone.now()))

    def schedule_retry(self, at: datetime) -> None:
        """Back in the queue after its handling could not be stored, to be taken again from
        `at` (as OutboxRow.retry_at puts a send back for another attempt)."""
        WebhookDelivery.objects.filter(pk=self.pk).update(
            state=self.State.RECEIVED, handling_since=at
        )

    def finish(self, state: str, error: str = "") -> None:
        self.state, self.error, self.processed_at = state, error, timezone.now()
        self.save(update_fields=["state", "error", "processed_at"])
