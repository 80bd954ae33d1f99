"""A broadcast: one message staff send to a segment of an account's contacts, each DM a row
of the one outbox (BroadcastSend), sent only inside the customer's 24-hour window."""

from django.conf import settings
from django.db import models
from django.db.models import Count, Q
from django.utils import timezone

from instabot.text_limits import REPLY_MAX_LENGTH
from messaging.models import OutboxRow, OutboxStatus


class Broadcast(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft (not sent)"
        QUEUED = "queued", "Queued (scheduled or sending)"
        CANCELLED = "cancelled", "Cancelled"

    account = models.ForeignKey(
        "accounts.InstagramBusinessAccount", on_delete=models.CASCADE, related_name="+"
    )
    name = models.CharField(max_length=100, help_text="For staff: what it is about.")
    text = models.TextField(max_length=REPLY_MAX_LENGTH)
    # The contacts' filters, as /api/contacts/ reads them (tag=vip&field=city:Paris&source=ad
    # &last_seen_after=2026-12-01): contacts.filtering.Segment.
    segment = models.CharField(max_length=2_000, blank=True)
    status = models.CharField(max_length=9, choices=Status, default=Status.DRAFT)
    # When its DMs are due (set when queued; a later time: scheduled).
    send_at = models.DateTimeField(null=True, blank=True)
    # Contacts of the segment opted out when it was queued (they get no row).
    opted_out_when_queued = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    queued_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return self.name

    @property
    def is_draft(self) -> bool:
        return self.status == self.Status.DRAFT

    def counts(self) -> dict[str, int]:
        """How its DMs went: one query."""
        skipped = BroadcastSend.Skipped
        status = OutboxStatus
        figures = self.sends.aggregate(
            queued=Count("pk", filter=Q(status__in=[status.QUEUED, status.SENDING])),
            sent=Count("pk", filter=Q(status=status.SENT)),
            failed=Count("pk", filter=Q(status=status.FAILED)),
            skipped_for_window=Count("pk", filter=Q(skipped=skipped.WINDOW)),
            opted_out=Count("pk", filter=Q(skipped=skipped.OPTED_OUT)),
            cancelled=Count("pk", filter=Q(skipped=skipped.CANCELLED)),
        )
        figures["opted_out"] += self.opted_out_when_queued
        return figures


class BroadcastSend(OutboxRow):
    """One contact's DM of a broadcast: a row of the one outbox (kind "broadcast")."""

    class Skipped(models.TextChoices):
        NO = "", "—"
        WINDOW = "window", "The 24-hour window was closed"
        OPTED_OUT = "opted_out", "The contact opted out"
        CANCELLED = "cancelled", "Staff cancelled the broadcast"

    broadcast = models.ForeignKey(Broadcast, on_delete=models.CASCADE, related_name="sends")
    contact = models.ForeignKey("contacts.Contact", on_delete=models.CASCADE, related_name="+")
    instagram_account_id = models.CharField(max_length=64)
    skipped = models.CharField(max_length=9, choices=Skipped, blank=True, default="")
    message_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["broadcast", "contact"], name="one_send_per_contact"),
        ]
        indexes = [
            # The outbox's poll: due rows, oldest first.
            models.Index(fields=["status", "due_at"], name="broadcast_send_due"),
            models.Index(fields=["instagram_account_id", "status"], name="broadcast_send_echo"),
        ]

    def __str__(self):
        return f"{self.broadcast_id} to {self.contact_id}"

    def mark_sent(self, message_id: str) -> bool:
        return self._change(
            (OutboxStatus.SENDING,),
            status=OutboxStatus.SENT,
            message_id=message_id,
            sent_at=timezone.now(),
            due_at=None,
        )

    def mark_skipped(self, why: str) -> None:
        type(self).objects.filter(pk=self.pk).update(skipped=why)
        self.skipped = why
