"""Where the accounts were @mentioned, and the public reply a mention rule gives (a row
written when the mention is recorded, before any Graph call; claimed with a conditional UPDATE)."""

from django.db import models
from django.utils import timezone

from comments.models.rule import CommentRule
from messaging.models.outbox import OutboxRow, OutboxStatus


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


class MentionReply(OutboxRow):
    """The public reply to a mention, when a mention rule may answer it. One per mention
    (answered once, however often it is delivered); an outbox row (messaging.outbox sends
    it, kind "mention_reply"): the sender reads the mention, picks the rule and the variant,
    then posts. Not answered (the account's own, no rule matches): cancelled, with why."""

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

    # The outbox's states, named for what they mean to a mention.
    status = models.CharField(
        max_length=9,
        choices=[
            (OutboxStatus.QUEUED, "Queued"),
            (OutboxStatus.SENDING, "Sending"),
            (OutboxStatus.SENT, "Answered publicly"),
            (OutboxStatus.FAILED, "Failed"),
            (OutboxStatus.CANCELLED, "Not answered"),
        ],
        default=OutboxStatus.QUEUED,
    )
    due_at = models.DateTimeField(null=True, blank=True, default=timezone.now)
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
            models.Index(fields=["instagram_account_id", "claimed_at"]),  # the hour
            models.Index(fields=["external_id"]),  # a mention that is our own reply
        ]

    def __str__(self):
        return f"Reply to {self.mention} ({self.status})"

    def choose(self, rule: CommentRule, text: str) -> bool:
        """What will be posted, recorded before the post."""
        return self._change((OutboxStatus.SENDING,), rule=rule, text=text)

    def mark_sent(self, external_id: str) -> bool:
        return self._change(
            (OutboxStatus.SENDING,),
            status=OutboxStatus.SENT,
            external_id=external_id,
            sent_at=timezone.now(),
            last_error="",
        )
