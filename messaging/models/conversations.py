"""A customer talking to one of our accounts."""

from datetime import datetime
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from messaging import hooks

if TYPE_CHECKING:
    from messaging.models.messages import Message


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
    # The newest activity (a message either way): never empty, so that every list of
    # conversations, newest activity first, reads an index in its order (a NULLS LAST order
    # cannot be indexed on SQLite). A conversation is made with its first message; one made
    # otherwise counts its creation as its activity.
    last_message_at = models.DateTimeField(default=timezone.now)
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
        # Newest activity first, the id breaking ties: the indexes below, in this order.
        ordering = ["-last_message_at", "-id"]
        constraints = [
            # Two first messages racing in must create one conversation.
            models.UniqueConstraint(
                fields=["instagram_account_id", "customer_id"], name="one_conversation_per_customer"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "last_message_at"]),  # the inbox's list
            # The inbox's order: who needs a reply first, then newest activity.
            models.Index(
                fields=["status", "needs_reply", "last_message_at", "id"],
                name="conversation_inbox_order",
            ),
            # The API's list (the ordering above), for every account and for one (keyset pages).
            models.Index(fields=["last_message_at", "id"], name="conversation_activity"),
            models.Index(
                fields=["account", "last_message_at", "id"], name="conversation_account_activity"
            ),
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
        waits = Conversation.objects.filter(pk=self.pk, needs_reply=False).update(
            needs_reply=True, needs_reply_since=since
        )
        self.needs_reply, self.needs_reply_since = True, since
        if waits:
            hooks.business_event("conversation.needs_reply", self.account_id, self.as_event())

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
        hooks.business_event("conversation.resolved", self.account_id, self.as_event())

    def as_event(self) -> dict:
        """The conversation as business events name it."""
        return {
            "conversation": self.pk,
            "customer_id": self.customer_id,
            "username": self.customer_username,
        }

    def customer_wrote(self, at: datetime, *, awaits_person: bool) -> None:
        """A customer's message at `at` was stored here: last_message_at moves forward, an
        archived conversation reopens, and (`awaits_person`: only the fallback answered, or
        nothing) it waits for a person from then on. One UPDATE, or none when nothing changes.

        The caller holds the row locked (select_for_update) since it read it: its values are
        the stored ones, so the conditions are checked here rather than in the UPDATE.
        """
        if changes := self._changes_when_customer_wrote(at, awaits_person):
            Conversation.objects.filter(pk=self.pk).update(**changes)
            for name, value in changes.items():
                setattr(self, name, value)
        if "needs_reply" in changes:
            hooks.business_event("conversation.needs_reply", self.account_id, self.as_event())

    @classmethod
    def customers_wrote(cls, wrote: list[tuple["Conversation", datetime, bool]]) -> None:
        """customer_wrote for many conversations, each locked by the caller and named once:
        (conversation, at, awaits_person). One UPDATE for them all (bulk_update), or none."""
        changed, fields, waiting = [], set(), []
        for conversation, at, awaits_person in wrote:
            if changes := conversation._changes_when_customer_wrote(at, awaits_person):
                for name, value in changes.items():
                    setattr(conversation, name, value)
                changed.append(conversation)
                fields.update(changes)
                if "needs_reply" in changes:
                    waiting.append(conversation)
        if changed:
            cls.objects.bulk_update(changed, sorted(fields))
        for conversation in waiting:
            hooks.business_event(
                "conversation.needs_reply", conversation.account_id, conversation.as_event()
            )

    def _changes_when_customer_wrote(self, at: datetime, awaits_person: bool) -> dict:
        changes = {}
        if self.last_message_at is None or self.last_message_at < at:
            changes["last_message_at"] = at
        if self.status == self.Status.ARCHIVED:
            changes["status"] = self.Status.ACTIVE
        if awaits_person and not self.needs_reply:
            changes.update(needs_reply=True, needs_reply_since=at)
        return changes

    def record_activity(self, at: datetime) -> None:
        """Move last_message_at forward (never back: deliveries arrive out of order)."""
        Conversation.record_activity_of([self], at)

    @classmethod
    def record_activity_of(cls, conversations: list["Conversation"], at: datetime) -> None:
        """record_activity for several conversations (replies sent together): one UPDATE."""
        # It only moves forward, so where the stored value is at least as late as ours, no
        # statement.
        behind = [c for c in conversations if c.last_message_at is None or c.last_message_at < at]
        if not behind:
            return
        cls.objects.filter(
            Q(last_message_at__isnull=True) | Q(last_message_at__lt=at),
            pk__in={conversation.pk for conversation in behind},
        ).update(last_message_at=at)
        for conversation in behind:
            conversation.last_message_at = at
