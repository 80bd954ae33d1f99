"""Outgoing webhooks: URLs staff register per account for business events; each delivery a
row of the one outbox (kind "webhook"), signed with the endpoint's secret."""

import secrets
from datetime import datetime, timedelta

from django.db import models
from django.utils import timezone

from accounts.encryption import EncryptedTextField
from messaging.hooks import BUSINESS_EVENTS
from messaging.models import OutboxRow, OutboxStatus

# An endpoint failing this long with no success between is disabled (staff see why).
DISABLED_AFTER = timedelta(days=1)
# What is kept of an endpoint's answer, for staff to read.
ANSWER_KEPT = 1_000


class WebhookEndpoint(models.Model):
    account = models.ForeignKey(
        "accounts.InstagramBusinessAccount", on_delete=models.CASCADE, related_name="+"
    )
    url = models.URLField("URL", max_length=2_000)
    events = models.JSONField(default=list, help_text="The business events it receives.")
    # Signs each delivery (HMAC-SHA256); shown once, when the endpoint is created.
    secret = EncryptedTextField(editable=False)
    is_active = models.BooleanField("active", default=True)
    disabled_reason = models.TextField(blank=True)
    failing_since = models.DateTimeField(null=True, blank=True, editable=False)
    last_success_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["account", "url", "pk"]
        verbose_name = "outgoing webhook"

    def __str__(self):
        return self.url

    def new_secret(self) -> str:
        self.secret = "whsec_" + secrets.token_urlsafe(32)
        return self.secret

    def event_labels(self) -> str:
        return ", ".join(BUSINESS_EVENTS.get(name, name) for name in self.events)

    def record_success(self, at: datetime) -> None:
        WebhookEndpoint.objects.filter(pk=self.pk).update(failing_since=None, last_success_at=at)

    def record_failure(self, at: datetime, reason: str) -> bool:
        """A delivery failed at `at`; returns whether this disabled the endpoint (failing for
        DISABLED_AFTER with no success since)."""
        WebhookEndpoint.objects.filter(pk=self.pk, failing_since__isnull=True).update(
            failing_since=at
        )
        since = WebhookEndpoint.objects.values_list("failing_since", flat=True).get(pk=self.pk)
        if at - since < DISABLED_AFTER:
            return False
        why = (
            f"Disabled at {at:%Y-%m-%d %H:%M} UTC: every delivery failed since "
            f"{since:%Y-%m-%d %H:%M} UTC. Last error: {reason[:500]}"
        )
        disabled = WebhookEndpoint.objects.filter(pk=self.pk, is_active=True).update(
            is_active=False, disabled_reason=why
        )
        self.deliveries.filter(status=OutboxStatus.QUEUED, claimed_by="").update(
            status=OutboxStatus.CANCELLED, last_error="not sent: the endpoint was disabled"
        )
        return bool(disabled)

    def enable(self) -> None:
        WebhookEndpoint.objects.filter(pk=self.pk).update(
            is_active=True, disabled_reason="", failing_since=None
        )


class EndpointDelivery(OutboxRow):
    """One event to one endpoint: a row of the one outbox, retried with its backoff."""

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.CharField(max_length=40)
    payload = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)
    # The endpoint's last answer: staff see it.
    answer_status = models.PositiveSmallIntegerField(null=True, blank=True)
    answer_body = models.TextField(blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["status", "due_at"], name="endpoint_delivery_due")]

    def __str__(self):
        return f"{self.event} to {self.endpoint_id}"

    def note_answer(self, status: int | None, body: str) -> None:
        """The endpoint's answer, kept on this instance (the sender's pool: no database)."""
        self.answer_status, self.answer_body = status, body[:ANSWER_KEPT]
        self.answered_at = timezone.now()
        self.answer_noted = True

    def save_answer(self) -> None:
        """Save the answer noted, if any (the pass's thread, with the outcome)."""
        if getattr(self, "answer_noted", False):
            fields = ("answer_status", "answer_body", "answered_at")
            EndpointDelivery.objects.filter(pk=self.pk).update(
                **{name: getattr(self, name) for name in fields}
            )
            self.answer_noted = False

    def mark_delivered(self) -> bool:
        return self._change((OutboxStatus.SENDING,), status=OutboxStatus.SENT, due_at=None)
