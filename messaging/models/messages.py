"""Messages, incoming and outgoing, and the state changes of an outgoing one."""

import operator
from datetime import datetime
from functools import reduce

from django.conf import settings
from django.db import models, transaction
from django.db.models import Case, Q, Value, When
from django.utils import timezone

from messaging.models.outbox import OutboxRow
from meta import display, messages


class Message(OutboxRow):
    """A customer's message, or one of ours: an outgoing message we send is an outbox row
    (its status, due time, attempts; sent by messaging.outbox, kind "dm")."""

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
            models.Index(fields=["status", "due_at"]),
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

    # --- state changes of one outgoing row (the rest: OutboxRow); each a conditional UPDATE

    def mark_sent(self, mid: str) -> None:
        Message.mark_all_sent([(self, mid)])

    @classmethod
    def mark_all_sent(cls, sent: list[tuple["Message", str]]) -> None:
        """Outgoing messages Meta accepted, each with its id: one read of the ids' holders and
        one UPDATE for them all. Two with the same id: ValueError (the sender
        then records them one by one, the later taking the id back)."""
        mids = {mid for _, mid in sent}
        if len(mids) < len(sent):
            raise ValueError("two messages sent with the same id")
        # No savepoint: in a caller's transaction, a failure here fails all of it anyway.
        with transaction.atomic(savepoint=False):
            others = cls.objects.filter(mid__in=mids).exclude(pk__in=[row.pk for row, _ in sent])
            if holders := list(others.values_list("pk", "author")):
                cls._take_mid_back(holders)
            now = timezone.now()
            for row, mid in sent:
                row.status, row.mid, row.timestamp, row.last_error = cls.Status.SENT, mid, now, ""
                row.due_at, row.waiting_for = None, ""
            # Only the ids differ from row to row: one CASE for them (none for one row), not
            # one for every column as bulk_update builds.
            if len(sent) == 1:
                mid_of_row = Value(sent[0][1])
            else:
                ids = [When(pk=row.pk, then=Value(mid)) for row, mid in sent]
                mid_of_row = Case(*ids, output_field=cls._meta.get_field("mid"))
            cls.objects.filter(pk__in=[row.pk for row, _ in sent]).update(
                status=cls.Status.SENT,
                mid=mid_of_row,
                timestamp=now,
                last_error="",
                due_at=None,
                waiting_for="",
            )

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

    def set_human_agent(self, tagged: bool) -> None:
        """Whether this staff reply goes with Meta's HUMAN_AGENT tag, as the window is now."""
        Message.objects.filter(pk=self.pk).update(human_agent=tagged)
        self.human_agent = tagged

    def release(self, at: datetime) -> bool:
        """Let a later part that waited for the part before it go out."""
        return bool(Message.release_parts(Q(pk=self.pk), at))

    @classmethod
    def release_parts(cls, which: Q, at: datetime) -> int:
        """The later parts among `which` still waiting for the part before them may go out from
        `at` (one UPDATE); returns how many."""
        waiting = cls.objects.filter(which, status=cls.Status.QUEUED, due_at__isnull=True)
        return waiting.update(due_at=at)

    @classmethod
    def release_next_parts(cls, sent: list["Message"], at: datetime) -> int:
        """The part after each of `sent` that has one may go out from `at`: one UPDATE (none
        when every one of them is a last part). Returns how many were released."""
        following = [
            Q(first_part_id=message.first_part_id or message.pk, part=message.part + 1)
            for message in sent
            if not message.is_last_part
        ]
        if not following:
            return 0
        return cls.release_parts(reduce(operator.or_, following), at)

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


class Send(Message):
    """The admin's one list of every send, of every kind (messaging.outbox.listing): a proxy,
    for the list's place and permission in the admin; its rows come from every kind's table."""

    class Meta:
        proxy = True
        verbose_name = "send"
        verbose_name_plural = "outbox: every send"
