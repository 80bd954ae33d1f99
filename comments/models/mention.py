"""Where the accounts were @mentioned, and the public reply a mention rule gives (a row
written when the mention is recorded, before any Graph call; claimed with a conditional UPDATE)."""

from datetime import datetime

from django.db import models
from django.db.models import F
from django.utils import timezone

from comments.models.rule import CommentRule


class Mention(models.Model):
    """The account was @mentioned in a comment or a caption on someone's media."""

    instagram_account_id = models.CharField("account id", max_length=64)
    account = models.ForeignKey(
        "accounts.InstagramBusinessAccount",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="mentions",
    )
    media_id = models.CharField("post id", max_length=64)
    comment_id = models.CharField(
        "comment id", max_length=64, blank=True, help_text="Empty: mentioned in the caption."
    )
    mentioned_at = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)
    # What the mention says, once a worker has read it from Instagram (only to answer it:
    # the webhook carries ids alone).
    text = models.TextField(blank=True)
    author_username = models.CharField("author", max_length=64, blank=True)
    permalink = models.URLField(max_length=500, blank=True)

    class Meta:
        ordering = ["-mentioned_at", "-id"]
        constraints = [
            # Delivered again, stored once.
            models.UniqueConstraint(
                fields=["instagram_account_id", "media_id", "comment_id"], name="one_mention"
            )
        ]

    def __str__(self):
        where = f"comment {self.comment_id}" if self.comment_id else "a caption"
        return f"Mentioned in {where} on {self.media_id}"


class MentionReply(models.Model):
    """The public reply to a mention, when a mention rule may answer it. One per mention
    (answered once, however often it is delivered); the worker reads the mention, picks the
    rule and the variant, then posts; each change of state is a conditional UPDATE."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Answered publicly"
        SKIPPED = "skipped", "Not answered"
        FAILED = "failed", "Failed"

    mention = models.OneToOneField(Mention, on_delete=models.CASCADE, related_name="reply")
    instagram_account_id = models.CharField("account id", max_length=64)
    account = models.ForeignKey(
        "accounts.InstagramBusinessAccount",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    # Chosen once the mention is read: the rule that answers, and the variant posted.
    rule = models.ForeignKey(
        CommentRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    text = models.TextField(blank=True)

    status = models.CharField(max_length=8, choices=Status, default=Status.QUEUED)
    due_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    # Why it was not answered, or why it failed.
    last_error = models.TextField("why", blank=True)
    # The reply's own comment id at Meta.
    external_id = models.CharField(max_length=255, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "mention replies"
        indexes = [
            models.Index(fields=["status", "due_at"]),  # the queue
            models.Index(fields=["external_id"]),  # a mention that is our own reply
        ]

    def __str__(self):
        return f"Reply to {self.mention} ({self.status})"

    # --- state changes; each a conditional UPDATE -----------------------------------------

    def claim(self) -> bool:
        """This worker's to answer, if no other worker took it first."""
        now = timezone.now()
        claimed = MentionReply.objects.filter(
            pk=self.pk, status=self.Status.QUEUED, due_at__lte=now
        ).update(status=self.Status.SENDING, claimed_at=now, attempts=F("attempts") + 1)
        if claimed:
            self.status, self.claimed_at, self.attempts = (
                self.Status.SENDING,
                now,
                self.attempts + 1,
            )
        return bool(claimed)

    def choose(self, rule: CommentRule, text: str) -> bool:
        """What will be posted, recorded before the post."""
        chosen = MentionReply.objects.filter(pk=self.pk, status=self.Status.SENDING).update(
            rule=rule, text=text
        )
        if chosen:
            self.rule, self.text = rule, text
        return bool(chosen)

    def mark_sent(self, external_id: str) -> bool:
        now = timezone.now()
        sent = MentionReply.objects.filter(pk=self.pk, status=self.Status.SENDING).update(
            status=self.Status.SENT, external_id=external_id, sent_at=now, last_error=""
        )
        if sent:
            self.status, self.external_id, self.sent_at, self.last_error = (
                self.Status.SENT,
                external_id,
                now,
                "",
            )
        return bool(sent)

    def finish(self, status: str, reason: str) -> bool:
        """Not answered (and why), or failed for good."""
        done = MentionReply.objects.filter(pk=self.pk, status=self.Status.SENDING).update(
            status=status, last_error=reason
        )
        if done:
            self.status, self.last_error = status, reason
        return bool(done)

    def retry_at(self, at: datetime, reason: str) -> bool:
        back = MentionReply.objects.filter(pk=self.pk, status=self.Status.SENDING).update(
            status=self.Status.QUEUED, due_at=at, last_error=reason
        )
        if back:
            self.status, self.due_at, self.last_error = self.Status.QUEUED, at, reason
        return bool(back)
