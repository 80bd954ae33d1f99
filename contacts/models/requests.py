"""A flow's external request: a row of the one outbox (kind "external_request"), POSTed by
its sender after the event's transaction, so a slow or failing endpoint never holds a reply."""

from django.db import models
from django.utils import timezone

from messaging.models import OutboxRow, OutboxStatus


class ExternalRequest(OutboxRow):
    action = models.ForeignKey(
        "contacts.RuleAction", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    contact = models.ForeignKey(
        "contacts.Contact", on_delete=models.CASCADE, related_name="external_requests"
    )
    url = models.URLField(max_length=2_000)
    payload = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)
    answer_status = models.PositiveSmallIntegerField(null=True, blank=True)
    # What was saved from the answer, or why nothing was.
    outcome = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "due_at"], name="external_request_due")]

    def __str__(self):
        return f"request {self.pk} for {self.contact_id}"

    def mark_done(self, status: int, outcome: str) -> bool:
        return self._change(
            (OutboxStatus.SENDING,),
            status=OutboxStatus.SENT,
            due_at=None,
            answer_status=status,
            outcome=outcome[:2_000],
        )
