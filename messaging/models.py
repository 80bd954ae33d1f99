from datetime import datetime, timedelta

from django.conf import settings
from django.db import models, transaction
from django.db.models import F, Q
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
        # sweep queues it again once they can (recovery.sweep_deliveries_waiting_for_credentials).
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
    def waiting_ids(cls, limit: int) -> list[int]:
        """The deliveries a worker may take now, first come first (so a customer's messages
        are handled in the order they came), in the (state, received_at) index's order."""
        waiting = cls.objects.filter(state=cls.State.RECEIVED, handling_since__lte=timezone.now())
        first_come = waiting.order_by("received_at", "pk")
        return list(first_come.values_list("pk", flat=True)[:limit])

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

    def release(self, retry_at: datetime) -> None:
        """Back in the queue after its handling could not be stored, to be taken again from
        `retry_at`."""
        WebhookDelivery.objects.filter(pk=self.pk).update(
            state=self.State.RECEIVED, handling_since=retry_at
        )

    def finish(self, state: str, error: str = "") -> None:
        self.state, self.error, self.processed_at = state, error, timezone.now()
        self.save(update_fields=["state", "error", "processed_at"])


class Conversation(models.Model):
    """One customer talking to one of our Instagram accounts."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        ARCHIVED = "archived", "Archived"

    # entry[].id of the deliveries: the Instagram professional account.
    instagram_account_id = models.CharField("account id", max_length=64)
    # The stored account, or empty for one served by the environment's single-account settings.
    account = models.ForeignKey(
        "accounts.InstagramBusinessAccount",
        null=True,
        blank=True,
        on_delete=models.PROTECT,  # deactivate an account; its history stays
        related_name="conversations",
    )
    # The customer's Instagram-scoped id (IGSID).
    customer_id = models.CharField("customer id", max_length=64)
    # From Instagram's user profile API, fetched by a worker for each new conversation when no
    # delivery waits (profiles.fetch_missing_usernames).
    customer_username = models.CharField("customer", max_length=64, blank=True)
    # When a worker asked Instagram for the customer's profile; empty: not yet.
    profile_requested_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=Status, default=Status.ACTIVE)
    last_message_at = models.DateTimeField(null=True, blank=True)
    # Set: staff paused the bot here, and it stays silent until they resume it.
    bot_paused_at = models.DateTimeField(null=True, blank=True)
    # While in the future, the bot stays silent here: staff answered (a takeover, which ends
    # by itself HUMAN_TAKEOVER_HOURS after their last reply).
    bot_paused_until = models.DateTimeField(null=True, blank=True)
    # The customer waits for a person: the bot answered them with the fallback or not at all
    # (paused, no text, a failed send), and no person has answered since. The inbox lists
    # these first. Kept by events (customer messages, echoes), replies and sending.
    needs_reply = models.BooleanField(default=False)
    needs_reply_since = models.DateTimeField(null=True, blank=True)
    # The staff member looking after this conversation in the inbox, if any.
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = [F("last_message_at").desc(nulls_last=True)]
        constraints = [
            # Two first messages racing in must create one conversation.
            models.UniqueConstraint(
                fields=["instagram_account_id", "customer_id"], name="one_conversation_per_customer"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "last_message_at"]),  # the inbox's list
            # The inbox's order: who needs a reply first, then newest activity.
            models.Index(fields=["status", "needs_reply", "last_message_at"]),
            models.Index(fields=["profile_requested_at"]),  # the usernames still to fetch
        ]

    def __str__(self):
        who = f"@{self.customer_username}" if self.customer_username else self.customer_id
        return f"{who} ↔ {self.instagram_account_id}"

    def recent_messages(self, n: int) -> list["Message"]:
        """The last `n` messages, oldest first (newest last)."""
        newest_first = self.messages.select_related("sent_by").order_by("-created_at", "-id")[:n]
        return list(reversed(newest_first))

    class BotSilence(models.TextChoices):
        """Why the bot is silent in a conversation (it answers when there is no reason)."""

        PAUSED = "paused", "paused by staff until resumed"
        TAKEN_OVER = "taken_over", "taken over by staff for a while"

    def bot_is_paused(self, now: datetime | None = None) -> bool:
        return self.bot_silence(now) is not None

    def bot_silence(self, now: datetime | None = None) -> "Conversation.BotSilence | None":
        """Why the bot is silent in this conversation now, or None when it answers."""
        if self.bot_paused_at is not None:
            return self.BotSilence.PAUSED
        if self.bot_paused_until is not None and self.bot_paused_until > (now or timezone.now()):
            return self.BotSilence.TAKEN_OVER
        return None

    def bot_silence_reason(self, now: datetime | None = None) -> str:
        """Why the bot is silent in this conversation now, in words, or "" when it answers."""
        silence = self.bot_silence(now)
        if silence == self.BotSilence.PAUSED:
            return f"paused by staff since {self.bot_paused_at:%Y-%m-%d %H:%M} UTC, until resumed"
        if silence == self.BotSilence.TAKEN_OVER:
            return f"staff took over, until {self.bot_paused_until:%Y-%m-%d %H:%M} UTC"
        return ""

    def take_over(self, until: datetime) -> None:
        """Keep the bot silent until `until` (never shortening a longer takeover)."""
        Conversation.objects.filter(
            Q(bot_paused_until__isnull=True) | Q(bot_paused_until__lt=until), pk=self.pk
        ).update(bot_paused_until=until)
        self.refresh_from_db(fields=["bot_paused_until"])

    def pause_bot(self) -> None:
        """Keep the bot silent here until staff resume it."""
        Conversation.objects.filter(pk=self.pk, bot_paused_at__isnull=True).update(
            bot_paused_at=timezone.now()
        )
        self.refresh_from_db(fields=["bot_paused_at"])

    def resume_bot(self) -> None:
        """The bot answers again: ends a pause and a takeover alike."""
        Conversation.objects.filter(pk=self.pk).update(bot_paused_at=None, bot_paused_until=None)
        self.bot_paused_at = self.bot_paused_until = None

    def set_status(self, status: str) -> None:
        Conversation.objects.filter(pk=self.pk).update(status=status)
        self.status = status

    def await_person(self, since: datetime) -> None:
        """The customer needs a person (kept from the first unanswered message on)."""
        Conversation.objects.filter(pk=self.pk, needs_reply=False).update(
            needs_reply=True, needs_reply_since=since
        )
        self.needs_reply, self.needs_reply_since = True, since

    def person_answered(self) -> None:
        """A person answered (or resolved it): nobody waits for one any more."""
        Conversation.objects.filter(pk=self.pk, needs_reply=True).update(
            needs_reply=False, needs_reply_since=None
        )
        self.needs_reply, self.needs_reply_since = False, None

    def assign(self, user) -> None:
        Conversation.objects.filter(pk=self.pk).update(assigned_to=user)
        self.assigned_to = user

    def resolve(self) -> None:
        """Staff are done here: archived (the customer's next message reopens it), and
        nobody waits for a person any more."""
        Conversation.objects.filter(pk=self.pk).update(
            status=self.Status.ARCHIVED, needs_reply=False, needs_reply_since=None
        )
        self.status, self.needs_reply, self.needs_reply_since = self.Status.ARCHIVED, False, None

    def record_activity(self, at: datetime) -> None:
        """Move last_message_at forward (never back: deliveries arrive out of order)."""
        if self.last_message_at is not None and self.last_message_at >= at:
            return  # it only moves forward, so the stored value is at least as late as ours
        Conversation.objects.filter(
            Q(last_message_at__isnull=True) | Q(last_message_at__lt=at), pk=self.pk
        ).update(last_message_at=at)
        self.last_message_at = at


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
        Conversation, on_delete=models.CASCADE, related_name="messages"
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


class SendThrottle(models.Model):
    """How fast one Instagram account may send: the Send API limits each account separately.

    Workers reserve send slots here under a row lock, so the rate holds across many workers.
    """

    instagram_account_id = models.CharField(max_length=64, unique=True)
    # The earliest moment the next message may go.
    next_send_at = models.DateTimeField(null=True, blank=True)
    # Meta answered "rate limited": nothing goes for this account until then.
    paused_until = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"Throttle for {self.instagram_account_id}"

    @classmethod
    def reserve_slot(
        cls, instagram_account_id: str, per_second: float, max_wait: timedelta
    ) -> datetime:
        """When this account's next message may go, honouring its rate and any pause.

        A slot within `max_wait` is taken (the next one moves 1/rate later); a later one is
        only reported, for the caller to come back then. Row-locked: holds across workers.
        """
        now = timezone.now()
        with transaction.atomic():
            throttles = cls.objects.select_for_update()
            try:
                throttle = throttles.get(instagram_account_id=instagram_account_id)
            except cls.DoesNotExist:  # the account's first send
                cls.objects.get_or_create(instagram_account_id=instagram_account_id)
                throttle = throttles.get(instagram_account_id=instagram_account_id)
            slot = max(now, throttle.next_send_at or now, throttle.paused_until or now)
            if slot <= now + max_wait:
                throttle.next_send_at = slot + timedelta(seconds=1 / per_second)
                throttle.save(update_fields=["next_send_at"])
        return slot

    @classmethod
    def pause(cls, instagram_account_id: str, seconds: float) -> datetime:
        """Meta said "too fast" for this account: hold its sends, and only its, for a while."""
        until = timezone.now() + timedelta(seconds=seconds)
        cls.objects.update_or_create(
            instagram_account_id=instagram_account_id, defaults={"paused_until": until}
        )
        return until


class WorkerHeartbeat(models.Model):
    """A running worker's sign of life, written every WORKER_HEARTBEAT_INTERVAL by its
    heartbeat thread (upkeep.Heartbeat). One silent for WORKER_DEAD_AFTER is dead: any live
    worker takes its work back, then deletes its row; a worker that stops gracefully deletes
    its own. /healthz reports the newest."""

    worker = models.CharField(max_length=200, unique=True)  # worker_identity.this_worker()
    last_seen = models.DateTimeField()

    def __str__(self):
        return f"{self.worker} at {self.last_seen:%Y-%m-%d %H:%M:%S}"

    @classmethod
    def beat(cls, worker: str) -> bool:
        """Record that `worker` is alive. False when it had no row: its first beat, or other
        workers took it for dead (and its work with it)."""
        now = timezone.now()
        if cls.objects.filter(worker=worker).update(last_seen=now):
            return True
        cls.objects.get_or_create(worker=worker, defaults={"last_seen": now})
        return False

    @classmethod
    def silent_since(cls, cutoff: datetime) -> list[str]:
        """The workers whose last beat is older than `cutoff`."""
        return list(cls.objects.filter(last_seen__lt=cutoff).values_list("worker", flat=True))

    @classmethod
    def forget(cls, worker: str, *, silent_since: datetime | None = None) -> None:
        """Delete `worker`'s heartbeat: it stopped, or (`silent_since`) it is dead and its
        work was taken back; a worker that beat again meanwhile keeps its row."""
        rows = cls.objects.filter(worker=worker)
        if silent_since is not None:
            rows = rows.filter(last_seen__lt=silent_since)
        rows.delete()
