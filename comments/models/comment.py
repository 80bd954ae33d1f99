"""What Instagram sent and what the service did with it: a comment, and its replies (rows
written before their Graph call, claimed under the account's quota lock)."""

from datetime import timedelta

from django.db import models
from django.utils import timezone

from comments.models.rule import CommentRule, Post
from messaging.models.outbox import OutboxRow, OutboxStatus, WaitingFor

# Meta takes a private reply within 7 days of the comment (Live: only during the broadcast).
PRIVATE_REPLY_WINDOW = timedelta(days=7)


class Comment(models.Model):
    """A comment on one of the accounts' posts, reels or live broadcasts, and what became of it."""

    class Status(models.TextChoices):
        PENDING = "pending", "Reply queued"
        WAITING = "waiting", "Waiting for the hourly limit"
        ANSWERED_PRIVATELY = "private", "Answered privately"
        ANSWERED_PUBLICLY = "public", "Answered publicly"
        ANSWERED_BOTH = "both", "Answered privately and publicly"
        SKIPPED = "skipped", "Skipped"
        FAILED = "failed", "Failed"

    # Unique: a comment delivered many times (ads produce duplicates) is stored once.
    comment_id = models.CharField("comment id", max_length=64, unique=True)
    instagram_account_id = models.CharField("account id", max_length=64)
    account = models.ForeignKey(
        "accounts.InstagramBusinessAccount",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="comments",
    )
    media_id = models.CharField("post id", max_length=64, blank=True)
    media_product_type = models.CharField("post type", max_length=32, blank=True)
    post = models.ForeignKey(
        Post, null=True, blank=True, on_delete=models.SET_NULL, related_name="comments"
    )
    is_live = models.BooleanField("live", default=False)
    parent_id = models.CharField("reply to comment", max_length=64, blank=True)
    author_id = models.CharField("author id", max_length=64)
    author_username = models.CharField("author", max_length=64, blank=True)
    text = models.TextField(blank=True)
    commented_at = models.DateTimeField()
    ad_id = models.CharField("ad id", max_length=64, blank=True)
    ad_title = models.TextField(blank=True)

    status = models.CharField(max_length=8, choices=Status, default=Status.PENDING)
    # Why it was skipped, or why a reply failed.
    status_reason = models.TextField("why", blank=True)
    rule = models.ForeignKey(
        CommentRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="comments"
    )
    # The conversation the private reply opened (or joined): the inbox shows the comment there.
    conversation = models.ForeignKey(
        "messaging.Conversation",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="comments",
    )
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-commented_at", "-id"]
        indexes = [
            models.Index(fields=["instagram_account_id", "media_id", "commented_at"]),
            models.Index(fields=["status", "commented_at"]),
        ]

    def __str__(self):
        who = f"@{self.author_username}" if self.author_username else self.author_id
        return f"{who}: {self.text[:40]}"

    def skip(self, reason: str) -> None:
        Comment.objects.filter(pk=self.pk).update(status=self.Status.SKIPPED, status_reason=reason)
        self.status, self.status_reason = self.Status.SKIPPED, reason

    def refresh_status(self) -> None:
        """Its status, from its replies' (called after any of them changes)."""
        replies = list(self.replies.values_list("kind", "status", "waiting_for", "last_error"))
        if not replies:
            return
        statuses = {status for _, status, _, _ in replies}
        answered = {kind for kind, status, _, _ in replies if status == OutboxStatus.SENT}
        problems = "; ".join(
            f"{kind} reply: {error}"
            for kind, status, _, error in replies
            if status == OutboxStatus.FAILED
        )
        held = (WaitingFor.HOURLY_LIMIT, WaitingFor.RATE)
        if OutboxStatus.SENDING in statuses or any(
            status == OutboxStatus.QUEUED and waiting not in held
            for _, status, waiting, _ in replies
        ):
            status = self.Status.PENDING
        elif OutboxStatus.QUEUED in statuses:
            status = self.Status.WAITING
        elif answered == {CommentReply.Kind.PRIVATE, CommentReply.Kind.PUBLIC}:
            status = self.Status.ANSWERED_BOTH
        elif answered == {CommentReply.Kind.PRIVATE}:
            status = self.Status.ANSWERED_PRIVATELY
        elif answered == {CommentReply.Kind.PUBLIC}:
            status = self.Status.ANSWERED_PUBLICLY
        else:
            status = self.Status.FAILED
        # The reason kept is the failures', else what handling noted (a reply not queued).
        reason = {"status_reason": problems} if problems else {}
        Comment.objects.filter(pk=self.pk).update(status=status, **reason)
        self.status = status
        self.status_reason = problems or self.status_reason


class CommentReply(OutboxRow):
    """One reply to a comment: a private reply (a DM) or a public one. An outbox row written
    before the Graph call (messaging.outbox sends it, kinds "private_reply", "public_reply")."""

    class Kind(models.TextChoices):
        PRIVATE = "private", "Private reply (DM)"
        PUBLIC = "public", "Public reply"

    comment = models.ForeignKey(Comment, on_delete=models.CASCADE, related_name="replies")
    kind = models.CharField(max_length=8, choices=Kind)
    # The comment's, copied: the queue is read per account, oldest comment first.
    instagram_account_id = models.CharField("account id", max_length=64)
    account = models.ForeignKey(
        "accounts.InstagramBusinessAccount",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    commented_at = models.DateTimeField()
    # Live comments' private replies fall under Meta's per-second limit, not the hourly one.
    is_live = models.BooleanField(default=False)
    rule = models.ForeignKey(
        CommentRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    text = models.TextField()

    status = models.CharField(max_length=9, choices=OutboxStatus, default=OutboxStatus.QUEUED)
    # When it may be claimed: now, or after a retry's backoff, or when the hour frees a slot.
    due_at = models.DateTimeField(null=True, blank=True, default=timezone.now)
    # Meta's id for what was sent: the DM's message id, or the public reply's comment id.
    external_id = models.CharField(max_length=255, blank=True)
    # Private replies: whom the DM went to (Meta's recipient_id), the conversation's customer.
    recipient_id = models.CharField(max_length=64, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["commented_at", "id"]
        verbose_name_plural = "comment replies"
        constraints = [
            # Meta takes one private reply per comment: we never try a second one.
            models.UniqueConstraint(fields=["comment", "kind"], name="one_reply_of_a_kind"),
        ]
        indexes = [
            models.Index(fields=["status", "due_at"]),  # the queue
            models.Index(fields=["instagram_account_id", "kind", "claimed_at"]),  # the hour
            models.Index(fields=["sent_at"]),  # the dashboard's comments answered a day
            # A comment delivered to us that is one of our own public replies (never answered).
            models.Index(fields=["external_id"]),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} to comment {self.comment_id} ({self.status})"

    def mark_sent(self, external_id: str, recipient_id: str = "", note: str = "") -> bool:
        """Sent (`note`: how we know, when not from this attempt's answer)."""
        return self._change(
            (OutboxStatus.SENDING,),
            status=OutboxStatus.SENT,
            external_id=external_id,
            recipient_id=recipient_id,
            sent_at=timezone.now(),
            last_error=note,
        )
