"""Where the accounts were @mentioned, and the public reply a mention rule gives (a row
written when the mention is recorded, before any Graph call; claimed with a conditional UPDATE)."""

from datetime import datetime

from django.db import models, transaction
from django.db.models import F, Min
from django.utils import timezone

from comments.models.comment import QUOTA_WINDOW, CommentReply, ReplyAttempt, ReplyQuota
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


class MentionReply(ReplyAttempt, models.Model):
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

    @classmethod
    def claim_due(cls, instagram_account_id: str, per_hour: int, batch: int) -> list[int]:
        """Claim up to `batch` due replies of one account, oldest first. A mention's reply is a
        public comment: it shares the account's hourly limit of public replies (and its lock)
        with the replies to comments. Over the limit, they wait until the hour frees a slot."""
        kind = CommentReply.Kind.PUBLIC
        ReplyQuota.ensure(instagram_account_id, kind)
        now = timezone.now()
        with transaction.atomic():
            ReplyQuota.lock(instagram_account_id, kind)
            used = public_replies_claimed_since(instagram_account_id, now - QUOTA_WINDOW)
            due = cls.objects.filter(
                instagram_account_id=instagram_account_id,
                status=cls.Status.QUEUED,
                due_at__lte=now,
            ).order_by("due_at", "pk")
            room = min(batch, per_hour - used)
            picked = list(due.values_list("pk", flat=True)[: max(room, 0)])
            cls.objects.filter(pk__in=picked, status=cls.Status.QUEUED).update(
                status=cls.Status.SENDING, claimed_at=now, attempts=F("attempts") + 1
            )
            # What this UPDATE took, and only that, is this worker's to answer.
            claimed = list(
                cls.objects.filter(pk__in=picked, status=cls.Status.SENDING, claimed_at=now)
                .order_by("due_at", "pk")
                .values_list("pk", flat=True)
            )
            if used + len(claimed) >= per_hour:
                # The hour is full: the rest wait until its oldest claim is an hour old.
                oldest = _oldest_public_claim_since(instagram_account_id, now - QUOTA_WINDOW)
                due.exclude(pk__in=claimed).update(due_at=(oldest or now) + QUOTA_WINDOW)
        return claimed

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


def public_replies_claimed_since(instagram_account_id: str, since: datetime) -> int:
    """The account's public replies (to comments and to mentions) claimed since `since`: what
    counts against its hourly limit of public replies (as CommentReply.claim_due counts it)."""
    comments = CommentReply.objects.filter(
        instagram_account_id=instagram_account_id,
        kind=CommentReply.Kind.PUBLIC,
        is_live=False,
        claimed_at__gt=since,
    )
    mentions = MentionReply.objects.filter(
        instagram_account_id=instagram_account_id, claimed_at__gt=since
    )
    return comments.count() + mentions.count()


def _oldest_public_claim_since(instagram_account_id: str, since: datetime) -> datetime | None:
    claims = [
        replies.filter(instagram_account_id=instagram_account_id, claimed_at__gt=since).aggregate(
            Min("claimed_at")
        )["claimed_at__min"]
        for replies in (
            CommentReply.objects.filter(kind=CommentReply.Kind.PUBLIC, is_live=False),
            MentionReply.objects.all(),
        )
    ]
    return min((claim for claim in claims if claim is not None), default=None)
