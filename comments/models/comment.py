"""What Instagram sent and what the service did with it: a comment, and its replies (rows
written before their Graph call, claimed under the account's quota lock)."""

from datetime import datetime, timedelta

from django.apps import apps
from django.db import models, transaction
from django.db.models import F, Min
from django.utils import timezone

from comments.models.rule import CommentRule, Post

# Meta takes a private reply within 7 days of the comment (Live: only during the broadcast).
PRIVATE_REPLY_WINDOW = timedelta(days=7)
# Meta's limits are counted per hour.
QUOTA_WINDOW = timedelta(hours=1)


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
        replies = list(self.replies.values_list("kind", "status", "last_error"))
        if not replies:
            return
        statuses = {status for _, status, _ in replies}
        answered = {kind for kind, status, _ in replies if status in CommentReply.DELIVERED}
        problems = "; ".join(
            f"{kind} reply: {error}"
            for kind, status, error in replies
            if status == CommentReply.Status.FAILED
        )
        if statuses & {CommentReply.Status.QUEUED, CommentReply.Status.SENDING}:
            status = self.Status.PENDING
        elif CommentReply.Status.WAITING in statuses:
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


class ReplyAttempt:
    """The state changes a reply under a comment or a mention shares, each a conditional
    UPDATE of a row being sent (status "sending"): its model has `status` (with SENDING and
    QUEUED), `due_at` and `last_error`."""

    def finish(self, status: str, reason: str) -> bool:
        """Give up on it: failed, not answered (and why), or already answered (Meta's word)."""
        done = (
            type(self)
            .objects.filter(pk=self.pk, status=self.Status.SENDING)
            .update(status=status, last_error=reason)
        )
        if done:
            self.status, self.last_error = status, reason
        return bool(done)

    def retry_at(self, at: datetime, reason: str) -> bool:
        """Back in the queue after a failed attempt, for another at `at`."""
        back = (
            type(self)
            .objects.filter(pk=self.pk, status=self.Status.SENDING)
            .update(status=self.Status.QUEUED, due_at=at, last_error=reason)
        )
        if back:
            self.status, self.due_at, self.last_error = self.Status.QUEUED, at, reason
        return bool(back)


class CommentReply(ReplyAttempt, models.Model):
    """One reply to a comment: a private reply (a DM) or a public one. Written before the
    Graph call; each change of state is a conditional UPDATE."""

    class Kind(models.TextChoices):
        PRIVATE = "private", "Private reply (DM)"
        PUBLIC = "public", "Public reply"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        WAITING = "waiting", "Waiting for the hourly limit"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        # Meta says this comment has its private reply already (an attempt whose answer we
        # lost, or someone else's reply): delivered, not by this attempt.
        ALREADY_SENT = "already", "Already answered"
        FAILED = "failed", "Failed"

    DELIVERED = (Status.SENT, Status.ALREADY_SENT)
    CLAIMABLE = (Status.QUEUED, Status.WAITING)

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

    status = models.CharField(max_length=8, choices=Status, default=Status.QUEUED)
    # When it may be claimed: now, or after a retry's backoff, or when the hour frees a slot.
    due_at = models.DateTimeField(default=timezone.now)
    # When a worker last claimed it: it counts against the hourly limit from then.
    claimed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
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

    # --- state changes; each a conditional UPDATE -----------------------------------------

    @classmethod
    def claim_due(
        cls, instagram_account_id: str, kind: str, per_hour: int, batch: int
    ) -> list[int]:
        """Claim up to `batch` due replies of one account and kind, oldest comment first,
        without ever going over `per_hour` claims in any hour. Under the account's quota row
        lock: workers claiming at once cannot exceed the limit together.

        Replies over the limit wait (WAITING) until the hour frees a slot; private replies to
        comments older than Meta's 7 days fail without a call.
        """
        ReplyQuota.ensure(instagram_account_id, kind)
        now = timezone.now()
        with transaction.atomic():
            ReplyQuota.lock(instagram_account_id, kind)
            mine = cls.objects.filter(instagram_account_id=instagram_account_id, kind=kind)
            due = mine.filter(status__in=cls.CLAIMABLE, due_at__lte=now)
            if kind == cls.Kind.PRIVATE:
                too_old = due.filter(is_live=False, commented_at__lt=now - PRIVATE_REPLY_WINDOW)
                expired = list(too_old.values_list("comment_id", flat=True))
                too_old.update(
                    status=cls.Status.FAILED,
                    last_error="not sent: Meta takes private replies within 7 days of the comment",
                    due_at=now,
                )
                for comment in Comment.objects.filter(pk__in=expired):
                    comment.refresh_status()

            claimed = list(due.filter(is_live=True).values_list("pk", flat=True)[:batch])
            this_hour = mine.filter(is_live=False, claimed_at__gt=now - QUOTA_WINDOW)
            # Replies to mentions are public comments too: they share the public hour.
            mentions_this_hour = _mention_replies(instagram_account_id, kind, now - QUOTA_WINDOW)
            used = this_hour.count() + mentions_this_hour.count()
            room = min(batch - len(claimed), per_hour - used)
            hourly = due.filter(is_live=False)
            if room > 0:
                claimed += list(hourly.values_list("pk", flat=True)[:room])
            cls.objects.filter(pk__in=claimed, status__in=cls.CLAIMABLE).update(
                status=cls.Status.SENDING, claimed_at=now, attempts=F("attempts") + 1
            )
            # What this UPDATE took, and only that, is this worker's to send.
            claimed = list(
                cls.objects.filter(pk__in=claimed, status=cls.Status.SENDING, claimed_at=now)
                .order_by("commented_at", "pk")
                .values_list("pk", flat=True)
            )
            if this_hour.count() + mentions_this_hour.count() >= per_hour:
                # The hour is full: the rest wait until its oldest claim is an hour old.
                oldest = min(
                    (
                        claims.aggregate(Min("claimed_at"))["claimed_at__min"] or now
                        for claims in (this_hour, mentions_this_hour)
                    ),
                )
                cls._wait(hourly.exclude(pk__in=claimed), oldest + QUOTA_WINDOW)
        return claimed

    @classmethod
    def _wait(cls, replies, until: datetime) -> None:
        # The comments first: once updated, the replies no longer match `replies` (a subquery
        # of thousands of ids, not a list of them: SQLite caps a query's parameters).
        Comment.objects.filter(
            pk__in=replies.values("comment_id"), status=Comment.Status.PENDING
        ).update(status=Comment.Status.WAITING)
        replies.update(status=cls.Status.WAITING, due_at=until)

    @classmethod
    def wait_for_meta(cls, instagram_account_id: str, kind: str, until: datetime) -> None:
        """Meta said "rate limited": this account's replies of this kind wait until `until`."""
        due = cls.objects.filter(
            instagram_account_id=instagram_account_id,
            kind=kind,
            status__in=cls.CLAIMABLE,
            due_at__lt=until,
        )
        cls._wait(due, until)

    def mark_sent(self, external_id: str, recipient_id: str = "") -> bool:
        now = timezone.now()
        sent = CommentReply.objects.filter(pk=self.pk, status=self.Status.SENDING).update(
            status=self.Status.SENT,
            external_id=external_id,
            recipient_id=recipient_id,
            sent_at=now,
            last_error="",
        )
        if sent:
            self.status, self.external_id, self.recipient_id = (
                self.Status.SENT,
                external_id,
                recipient_id,
            )
            self.sent_at, self.last_error = now, ""
        return bool(sent)

    def put_back(self, until: datetime, reason: str) -> bool:
        """Claimed but not attempted (Meta paused the account meanwhile): it waits, and the
        claim neither counts as an attempt nor against the hour."""
        back = CommentReply.objects.filter(pk=self.pk, status=self.Status.SENDING).update(
            status=self.Status.WAITING,
            due_at=until,
            last_error=reason,
            claimed_at=None,
            attempts=F("attempts") - 1,
        )
        if back:
            self.status, self.due_at = self.Status.WAITING, until
        return bool(back)


def _mention_replies(instagram_account_id: str, kind: str, since: datetime):
    """The account's replies to mentions claimed since `since`, when `kind` is public (none
    for private replies). Looked up by name: comments.models.mention builds on this module."""
    mention_reply = apps.get_model("comments", "MentionReply")
    if kind != CommentReply.Kind.PUBLIC:
        return mention_reply.objects.none()
    return mention_reply.objects.filter(
        instagram_account_id=instagram_account_id, claimed_at__gt=since
    )


class ReplyQuota(models.Model):
    """The row that serialises claims of one account's replies of one kind (its lock is the
    point; the hour is counted from the replies' claimed_at)."""

    instagram_account_id = models.CharField(max_length=64)
    kind = models.CharField(max_length=8, choices=CommentReply.Kind)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["instagram_account_id", "kind"], name="one_quota")
        ]

    def __str__(self):
        return f"{self.kind} replies of {self.instagram_account_id}"

    @classmethod
    def lock(cls, instagram_account_id: str, kind: str) -> None:
        """Lock the account's row until the transaction ends. The row is created first, in a
        transaction of its own: locking a row that does not exist yet locks a gap of the
        index, and two workers inserting into the gap they both locked deadlock (InnoDB)."""
        if not transaction.get_connection().in_atomic_block:
            raise RuntimeError("ReplyQuota.lock() holds the lock only inside a transaction")
        rows = cls.objects.select_for_update().filter(
            instagram_account_id=instagram_account_id, kind=kind
        )
        if not list(rows.values_list("pk", flat=True)):
            raise cls.DoesNotExist(f"no quota row for {kind} replies of {instagram_account_id}")

    @classmethod
    def ensure(cls, instagram_account_id: str, kind: str) -> None:
        """Create the account's row if it is not there (outside the claim's transaction)."""
        cls.objects.get_or_create(instagram_account_id=instagram_account_id, kind=kind)
