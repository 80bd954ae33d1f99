"""Messages, incoming and outgoing, and the state changes of an outgoing one."""

from datetime import datetime

from django.conf import settings
from django.db import models, transaction
from django.db.models import F, Q
from django.utils import timezone

from meta import display, messages


class Message(models.Model):
    class Direction(models.TextChoices):
        INCOMING = "in", "Incoming"
        OUTGOING = "out", "Outgoing"

    class Author(models.TextChoices):
        CUSTOMER = "customer", "Customer"
        BOT = "bot", "Bot"
        # Staff answering from our inbox (admin): sent through the Send API like the bot.
        STAFF = "staff", "Staff (inbox)"
        # An echo of a message we did not send: staff answered from the Instagram app.
        BUSINESS_APP = "business_app", "Staff (Instagram app)"

    class Status(models.TextChoices):
        """The life of an outgoing message we send; incoming messages have none."""

        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        # A bot reply not sent because staff took the conversation over meanwhile.
        CANCELLED = "cancelled", "Cancelled"

    conversation = models.ForeignKey(
        "messaging.Conversation", on_delete=models.CASCADE, related_name="messages"
    )
    direction = models.CharField(max_length=3, choices=Direction)
    author = models.CharField(max_length=16, choices=Author)
    # Meta's message id. Unique: a message delivered many times is stored once. Empty (NULL)
    # for our own replies until the Send API (or its echo) tells us the id.
    mid = models.CharField(max_length=255, unique=True, null=True, blank=True)
    text = models.TextField(blank=True)
    attachments = models.JSONField(default=list, blank=True)  # [{"type": ..., "url": ...}]
    # What the message answers or carries besides text: reply_to, story, quick_reply,
    # postback, referral, unsupported. For display; nothing decides on it.
    details = models.JSONField(default=dict, blank=True)
    # When Instagram says it was sent (for our replies: when the Send API accepted it).
    timestamp = models.DateTimeField(null=True, blank=True)
    is_deleted = models.BooleanField(default=False)
    edit_count = models.PositiveIntegerField(default=0)
    reaction = models.CharField(max_length=32, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)

    # --- outgoing messages we send ---
    # The customer message this automatic reply answers: at most one reply per message.
    in_reply_to = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replies"
    )
    # A reply over Meta's 1000-byte limit goes out as several messages, in order: part 1
    # is the head, later parts point to it.
    part = models.PositiveSmallIntegerField(default=1)
    # False while later parts follow this one: sending it then releases the next.
    is_last_part = models.BooleanField(default=True)
    first_part = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="later_parts"
    )
    status = models.CharField(max_length=9, choices=Status, blank=True)
    # What an outgoing message sends besides its text (meta.messages.as_json: quick replies,
    # buttons, cards, media); {} for plain text. `text` then holds its summary line.
    content = models.JSONField(default=dict, blank=True)
    # A person's reply sent 24 hours to 7 days after the customer's last message: it goes
    # out with Meta's HUMAN_AGENT tag (the account must be allowed to use it; never the bot).
    human_agent = models.BooleanField(default=False)
    # Who wrote an outgoing message: the rule that answered, or the staff user.
    rule = models.ForeignKey(
        "rules.ResponseRule", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    is_fallback = models.BooleanField(default=False)
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # When the next send may happen. NULL while a later part waits for the part before it.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sending_started_at = models.DateTimeField(null=True, blank=True)
    # The worker (worker_identity.this_worker) holding it. Sending: the one sending it. Queued:
    # the one that stored it and sends it itself, no task queued for it (a bot reply, sent by
    # the worker that handled the DM); empty while a task or the part before it is awaited.
    # Work held by a worker whose heartbeat stopped is taken back at once
    # (recovery.recover_work_of_dead_workers). Not indexed: that query filters on the status
    # first (the status index), which leaves the few replies in a worker's hands right now.
    claimed_by = models.CharField(max_length=200, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            # A customer message is answered once, however often it is delivered.
            models.UniqueConstraint(fields=["in_reply_to", "part"], name="one_reply_per_message"),
            models.CheckConstraint(
                condition=(Q(direction="in", status="") | (Q(direction="out") & ~Q(status=""))),
                name="only_outgoing_messages_have_a_status",
            ),
        ]
        indexes = [
            # The worker's sweep and the queue's health look for stalled sends.
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["conversation", "created_at"]),
            # The dashboard's figures cover a range of days.
            models.Index(fields=["created_at"]),
        ]

    def __str__(self):
        return f"{self.get_direction_display()} {self.mid or self.pk}: {self.text[:40]}"

    def outgoing(self) -> messages.Outgoing:
        """What this outgoing message sends, in meta.messages' shapes."""
        return messages.outgoing_from_json(self.text, self.content)

    def display(self) -> dict | None:
        """Buttons, quick replies, cards or media we sent, for staff to see as such (None:
        plain text)."""
        return display.outgoing_display(self.outgoing()) if self.content else None

    def shown_attachments(self) -> list[dict]:
        """Attachments as pages show them: a link only for a web address (never javascript:)."""
        return display.attachments_display(self.attachments)

    def story_link(self) -> str:
        """The story a customer's message replied to, as a web address ("" if none or not one)."""
        story = (self.details or {}).get("reply_to_story")
        return display.web_address(story.get("url")) if isinstance(story, dict) else ""

    def tap(self) -> str:
        """What a customer's message tapped or came from, in words ("" if nothing)."""
        return display.tap_display(self.details) if self.details else ""

    # --- state changes of one outgoing row; each is a conditional UPDATE ---

    @classmethod
    def claim_for_sending(cls, pk: int, by: str) -> bool:
        """Worker `by` takes reply `pk` for sending. False if someone else has it, or it is
        not due.

        A class method, so that the claim comes before the row is read: what is read after
        it is the claimed state."""
        now = timezone.now()
        return bool(
            cls.objects.filter(pk=pk, status=cls.Status.QUEUED, next_attempt_at__lte=now).update(
                status=cls.Status.SENDING,
                sending_started_at=now,
                claimed_by=by,
                attempts=F("attempts") + 1,
            )
        )

    @classmethod
    def take_over_send(
        cls,
        pk: int,
        by: str,
        *,
        from_worker: str | None = None,
        started_before: datetime | None = None,
    ) -> bool:
        """Worker `by` takes over a send its worker abandoned (it died mid-send): one claimed
        by `from_worker` (a dead worker), or started before `started_before` (the stall sweep).

        The new claim is what makes the recovery happen once: a second recoverer, or one that
        read the row before another worker claimed it again, no longer matches. The dead
        worker's attempt stays counted."""
        abandoned = cls.objects.filter(pk=pk, status=cls.Status.SENDING)
        if from_worker is not None:
            abandoned = abandoned.filter(claimed_by=from_worker)
        if started_before is not None:
            abandoned = abandoned.filter(sending_started_at__lt=started_before)
        return bool(abandoned.update(claimed_by=by, sending_started_at=timezone.now()))

    @classmethod
    def hand_to_queue(cls, pk: int, from_worker: str) -> bool:
        """A queued reply that worker `from_worker` held to send itself (no task is queued for
        it) is let go, for the caller to queue its send. False if it is not held so any more."""
        held = cls.objects.filter(pk=pk, status=cls.Status.QUEUED, claimed_by=from_worker)
        return bool(held.update(claimed_by=""))

    def mark_sent(self, mid: str) -> None:
        # No savepoint: in a caller's transaction, a failure here fails all of it anyway.
        with transaction.atomic(savepoint=False):
            others = Message.objects.filter(mid=mid).exclude(pk=self.pk)
            if holders := list(others.values_list("pk", "author")):
                self._take_mid_back(holders)
            now = timezone.now()
            Message.objects.filter(pk=self.pk).update(
                status=self.Status.SENT,
                mid=mid,
                timestamp=now,
                last_error="",
                next_attempt_at=None,
            )
        self.status, self.mid, self.timestamp, self.last_error = self.Status.SENT, mid, now, ""
        self.next_attempt_at = None

    @staticmethod
    def _take_mid_back(holders: list[tuple[int, str]]) -> None:
        """The Send API says this message has the id other rows (pk, author) hold."""
        for pk, author in holders:
            if author in SENT_BY_US:
                # An echo can arrive before the Send API answers; it is matched to the oldest
                # in-flight message with the same text, which with two identical messages in
                # flight may be the other one. The Send API's answer is authoritative.
                Message.objects.filter(pk=pk).update(mid=None)
            elif author == Message.Author.BUSINESS_APP:
                # An echo whose text Meta altered was stored as a staff message; it is ours.
                Message.objects.filter(pk=pk).delete()

    def schedule_retry(self, reason: str, at: datetime) -> bool:
        """Put an in-flight send back in the queue for another attempt at `at`."""
        # Back in the queue, no worker holds it: its task does.
        scheduled = Message.objects.filter(pk=self.pk, status=self.Status.SENDING).update(
            status=self.Status.QUEUED, last_error=reason, next_attempt_at=at, claimed_by=""
        )
        if scheduled:
            self.status, self.last_error, self.next_attempt_at = self.Status.QUEUED, reason, at
        return bool(scheduled)

    def mark_failed(self, reason: str, status: str = Status.FAILED) -> bool:
        """Give up on an unsent message: failed, or (status=CANCELLED) cancelled."""
        failed = Message.objects.filter(
            pk=self.pk, status__in=[self.Status.QUEUED, self.Status.SENDING]
        ).update(status=status, last_error=reason, next_attempt_at=None)
        if failed:
            self.status, self.last_error, self.next_attempt_at = status, reason, None
        return bool(failed)

    def defer(self, at: datetime, reason: str | None = None) -> bool:
        """Put a claimed message back until `at`, without counting an attempt (rate limits,
        credentials that cannot be opened: nothing reached Meta). `reason` notes why."""
        noted = {} if reason is None else {"last_error": reason}
        deferred = Message.objects.filter(pk=self.pk, status=self.Status.SENDING).update(
            status=self.Status.QUEUED,
            next_attempt_at=at,
            attempts=F("attempts") - 1,
            claimed_by="",
            **noted,
        )
        if deferred:
            self.status, self.next_attempt_at, self.attempts = (
                self.Status.QUEUED,
                at,
                self.attempts - 1,
            )
        return bool(deferred)

    def set_human_agent(self, tagged: bool) -> None:
        """Whether this staff reply goes with Meta's HUMAN_AGENT tag, as the window is now."""
        Message.objects.filter(pk=self.pk).update(human_agent=tagged)
        self.human_agent = tagged

    def requeue(self, at: datetime | None) -> bool:
        """Queue a failed message again (`at` None: waiting for the part before it)."""
        requeued = Message.objects.filter(pk=self.pk, status=self.Status.FAILED).update(
            status=self.Status.QUEUED, next_attempt_at=at, attempts=0, last_error=""
        )
        if requeued:
            self.status, self.next_attempt_at, self.attempts, self.last_error = (
                self.Status.QUEUED,
                at,
                0,
                "",
            )
        return bool(requeued)

    def release(self, at: datetime) -> bool:
        """Let a later part that waited for the part before it go out."""
        return bool(
            Message.objects.filter(
                pk=self.pk, status=self.Status.QUEUED, next_attempt_at__isnull=True
            ).update(next_attempt_at=at)
        )

    @property
    def head(self) -> "Message":
        """Part 1 of a split reply (or the message itself, when it is not split)."""
        return self.first_part or self

    def previous_part(self) -> "Message | None":
        if self.part == 1:
            return None
        if self.part == 2:
            return self.first_part
        return self.head.later_parts.get(part=self.part - 1)


# Outgoing messages this service sends through the Send API (their echoes are ours).
SENT_BY_US = (Message.Author.BOT, Message.Author.STAFF)
