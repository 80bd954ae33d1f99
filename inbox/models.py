from django.conf import settings
from django.db import models

from instabot.text_limits import REPLY_MAX_LENGTH
from messaging.models import Conversation


class ReadMarker(models.Model):
    """How far one staff user has read one conversation: unread is a customer message after it."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    # The newest customer message the user has seen here (its id: ids only grow).
    last_read_message_id = models.BigIntegerField(default=0)
    read_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "conversation"], name="one_marker_per_reader")
        ]

    def __str__(self):
        return f"{self.user} read {self.conversation_id} up to {self.last_read_message_id}"

    @classmethod
    def mark_read(cls, user, conversation_id: int, message_id: int) -> None:
        """Move the user's marker forward to `message_id` (never back)."""
        marker, created = cls.objects.get_or_create(
            user=user,
            conversation_id=conversation_id,
            defaults={"last_read_message_id": message_id},
        )
        if not created and marker.last_read_message_id < message_id:
            cls.objects.filter(pk=marker.pk, last_read_message_id__lt=message_id).update(
                last_read_message_id=message_id
            )


class SavedReply(models.Model):
    """A snippet staff insert by its shortcut (typing /hours offers it), for one account or all."""

    shortcut = models.SlugField(
        max_length=40, help_text="Typed after a slash in the inbox's reply box, e.g. hours."
    )
    # What a staff reply may be, at most (instabot.text_limits).
    text = models.TextField(max_length=REPLY_MAX_LENGTH)
    account = models.ForeignKey(
        "accounts.InstagramBusinessAccount",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="saved_replies",
        help_text="Empty: offered in every account's conversations.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["shortcut", "id"]
        verbose_name_plural = "saved replies"
        constraints = [
            models.UniqueConstraint(fields=["account", "shortcut"], name="one_shortcut_per_account")
        ]

    def __str__(self):
        return f"/{self.shortcut}"


class Note(models.Model):
    """A staff note about a customer, shown beside their conversation; never sent."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["conversation", "created_at"])]

    def __str__(self):
        return self.text[:60]


class DailyFigures(models.Model):
    """The dashboard's figures of one account and one UTC day, rolled up once the day has
    settled (inbox.rollups): the dashboard reads these instead of counting the day's messages.
    What the dashboard adds up across days and accounts are columns, summed (the counts) or
    their maximum taken (the answer times) by the database; the answers per rule and failed
    sends per reason are rows of their own (DailyBreakdown), added up by the database too; the
    answer times' histograms are JSON (inbox.stats_days.DayFigures.as_fields), read only for a
    day with a live part. A new counted kind is a column.
    """

    # The account's id; 0 for the environment's single account (conversations with no stored
    # account). Not a foreign key: a NULL would not be unique, and accounts are never deleted.
    account_pk = models.PositiveBigIntegerField()
    day = models.DateField()
    # inbox.stats_days.COUNTED: one count each.
    received = models.PositiveIntegerField(default=0)
    rule = models.PositiveIntegerField(default=0)
    fallback = models.PositiveIntegerField(default=0)
    person = models.PositiveIntegerField(default=0)
    comments_private = models.PositiveIntegerField(default=0)
    comments_public = models.PositiveIntegerField(default=0)
    # inbox.stats_days.ANSWER_TIMES: the day's medians and 90th percentiles, in seconds.
    bot_median_seconds = models.FloatField(null=True)
    bot_p90_seconds = models.FloatField(null=True)
    person_median_seconds = models.FloatField(null=True)
    person_p90_seconds = models.FloatField(null=True)
    # {"bot": {seconds rounded: how many}, "person": {...}}: read only to add a live part.
    histograms = models.JSONField(default=dict)

    class Meta:
        verbose_name_plural = "daily figures"
        constraints = [
            models.UniqueConstraint(fields=["account_pk", "day"], name="one_figures_row_per_day")
        ]
        # The dashboard reads a range of days for every account the user sees.
        indexes = [models.Index(fields=["day"])]

    def __str__(self):
        return f"figures of account {self.account_pk or '(environment)'} on {self.day}"


class DailyBreakdown(models.Model):
    """One count of an account's UTC day among a varying number: the answers of one rule, or
    the sends failed for one reason. Written with the day's DailyFigures row (inbox.rollups,
    in the same transaction), and added up per rule or reason over the dashboard's range by
    the database (inbox.stats)."""

    class Kind(models.TextChoices):
        RULE = "rule", "answers of a rule"
        FAILED = "failed", "sends failed for a reason"

    account_pk = models.PositiveBigIntegerField()  # as DailyFigures.account_pk
    day = models.DateField()
    kind = models.CharField(max_length=8, choices=Kind.choices)
    # The rule's id, or the reason (inbox.stats_days.reason_of: at most 160 characters).
    key = models.CharField(max_length=160)
    n = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account_pk", "day", "kind", "key"], name="one_breakdown_count_per_key"
            )
        ]
        # The dashboard adds up a range of days for every account the user sees; the rollup
        # writes a day again.
        indexes = [models.Index(fields=["day"], name="breakdown_day")]

    def __str__(self):
        return f"{self.kind} {self.key}: {self.n} on {self.day} (account {self.account_pk})"


class RolledUpDay(models.Model):
    """A UTC day whose figures are in DailyFigures, every account's: those of the messages
    created before `through` (the day's end once it is over), computed at `rolled_up_at`."""

    day = models.DateField(unique=True)
    through = models.DateTimeField()
    rolled_up_at = models.DateTimeField()

    def __str__(self):
        return f"{self.day} rolled up at {self.rolled_up_at:%Y-%m-%d %H:%M}"
