"""What a business knows (entries customers' questions are answered from), how an account
answers from it (its settings), and every answer given or handed to a person."""

from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from accounts.encryption import EncryptedTextField
from instabot.text_limits import REPLY_MAX_LENGTH
from meta import messages

# An entry's phrasings: the ways customers ask it, one a line; a list a person reads through.
QUESTIONS_PER_ENTRY = 30
QUESTION_MAX_LENGTH = 300
QUESTIONS_MAX_LENGTH = QUESTIONS_PER_ENTRY * (QUESTION_MAX_LENGTH + 1)


def split_questions(text: str) -> list[str]:
    """An entry's `questions` text as its phrasings: one a line, blank lines ignored."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def validate_questions(text: str) -> None:
    listed = split_questions(text)
    if not listed:
        raise ValidationError("Give at least one question, as a customer would ask it.")
    if len(listed) > QUESTIONS_PER_ENTRY:
        raise ValidationError(
            f"At most {QUESTIONS_PER_ENTRY} phrasings an entry ({len(listed)} given)."
        )
    if too_long := [q for q in listed if len(q) > QUESTION_MAX_LENGTH]:
        raise ValidationError(
            f"A question has at most {QUESTION_MAX_LENGTH} characters; "
            f"{too_long[0][:20]!r}… has {len(too_long[0])}."
        )


def validate_answer(text: str) -> None:
    if not text.strip():
        raise ValidationError("The answer cannot be empty.")


def validate_https(url: str) -> None:
    if url and not url.lower().startswith("https://"):
        raise ValidationError("A link starts with https://.")


class KnowledgeEntry(models.Model):
    """Something the business knows, and the questions customers ask of it."""

    account = models.ForeignKey(
        "accounts.InstagramBusinessAccount",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="knowledge_entries",
        help_text="Empty: the entry answers for every account.",
    )
    title = models.CharField(max_length=200, help_text="Shown to staff: “Opening hours”.")
    questions = models.TextField(
        max_length=QUESTIONS_MAX_LENGTH,
        validators=[validate_questions],
        help_text="How customers ask it, one a line, in the languages they write in "
        f"(at most {QUESTIONS_PER_ENTRY}): “when do you open?”, “¿a qué hora abren?”.",
    )
    answer = models.TextField(
        max_length=REPLY_MAX_LENGTH,
        validators=[validate_answer],
        help_text=f"At most {REPLY_MAX_LENGTH:,} characters with the link. Over 1000 bytes, it "
        "is sent as several messages, in order.",
    )
    link = models.URLField(
        max_length=messages.URL_MAX,
        blank=True,
        validators=[validate_https],
        help_text="Optional: sent under the answer (https://…).",
    )
    is_active = models.BooleanField("active", default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title", "id"]
        verbose_name_plural = "knowledge entries"
        indexes = [models.Index(fields=["updated_at"])]  # the index's freshness check

    def __str__(self):
        return self.title

    def reply_text(self) -> str:
        """What the customer gets: the answer, and the link under it."""
        return f"{self.answer.strip()}\n{self.link}" if self.link else self.answer.strip()

    def clean(self):
        if self.answer and len(self.reply_text()) > REPLY_MAX_LENGTH:
            raise ValidationError(
                {
                    "answer": f"The answer and its link have at most {REPLY_MAX_LENGTH:,} "
                    f"characters ({len(self.reply_text()):,} given)."
                }
            )


# The fields staff edit, in the admin, the API and CSV files alike.
EDITABLE_FIELDS = ["title", "questions", "answer", "link", "account", "is_active"]


class KnowledgeSettings(models.Model):
    """How an account answers from its knowledge. No row: knowledge is off for it."""

    class Mode(models.TextChoices):
        OFF = "off", "Off: rules and the fallback only"
        FAQ = "faq", "Built-in: send the best entry's answer (no AI service)"
        ASSISTANT = "assistant", "Assistant: an AI service writes the answer from the entries"

    account = models.OneToOneField(
        "accounts.InstagramBusinessAccount",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="knowledge_settings",
        help_text="Empty: for the environment's single account (conversations of no stored "
        "account).",
    )
    mode = models.CharField(max_length=16, choices=Mode, default=Mode.FAQ)
    min_confidence = models.FloatField(
        "confidence threshold",
        default=0.65,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="0 to 1: how much of a question the best entry must cover before its answer "
        "is sent (built-in). Lower answers more, and more wrongly: test with eval_knowledge.",
    )
    max_answers_in_a_row = models.PositiveSmallIntegerField(
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(50)],
        help_text="At most this many answers from knowledge in one conversation before a "
        "person has answered it; then the fallback, and it waits under Needs a reply.",
    )
    daily_assistant_calls = models.PositiveIntegerField(
        default=200,
        validators=[MaxValueValidator(1_000_000)],
        help_text="Calls to the AI service a day (UTC) for this account; past them, built-in "
        "answers only.",
    )
    ai_api_key = EncryptedTextField(
        "AI API key",
        blank=True,
        help_text="Stored encrypted. Empty: the service's AI_API_KEY.",
    )
    ai_model = models.CharField(
        "AI model", max_length=100, blank=True, help_text="Empty: the service's AI_MODEL."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "knowledge settings"
        verbose_name_plural = "knowledge settings"

    def __str__(self):
        return f"Knowledge for {self.account or 'the single account'}"


class KnowledgeAnswer(models.Model):
    """What knowledge did for one customer message: answered it (from which entries, with
    which model, tokens and time), or handed it to a person."""

    class Kind(models.TextChoices):
        FAQ = "faq", "Answered from knowledge"
        ASSISTANT = "assistant", "Answered by the assistant"
        HANDOFF = "handoff", "Handed to a person"
        # The DM is stored; the assistant is asked after its transaction (knowledge.asking).
        AWAITING = "awaiting", "Waiting for the assistant"

    class Verdict(models.TextChoices):
        NONE = "", "Not judged"
        GOOD = "good", "Good"
        WRONG = "wrong", "Wrong"

    conversation = models.ForeignKey(
        "messaging.Conversation", on_delete=models.CASCADE, related_name="knowledge_answers"
    )
    # The customer's message it answered.
    question = models.ForeignKey(
        "messaging.Message", on_delete=models.CASCADE, related_name="knowledge_questions"
    )
    # The bot's reply (its first part); empty for a hand-off.
    reply = models.OneToOneField(
        "messaging.Message",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="knowledge_answer",
    )
    kind = models.CharField(max_length=16, choices=Kind)
    # [{"id", "title", "score"}], best first: the entries it answered from (or was given).
    entries = models.JSONField(default=list, blank=True)
    # Why it handed off, or why the assistant's answer was not used.
    reason = models.CharField(max_length=300, blank=True)
    # The AI model called for it (empty: no call): the daily budget counts these.
    model = models.CharField(max_length=100, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    elapsed_ms = models.PositiveIntegerField(default=0)
    # While awaiting: the worker asking the assistant (empty: none yet) and since when, the
    # moment the built-in answer or the fallback goes out whatever the assistant does, and the
    # entry whose answer that is (empty: the fallback).
    claimed_by = models.CharField(max_length=200, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    answer_by = models.DateTimeField(null=True, blank=True)
    built_in = models.ForeignKey(
        KnowledgeEntry, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    verdict = models.CharField(max_length=8, choices=Verdict, blank=True, default="")
    judged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    judged_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["conversation", "created_at"]),  # answers in a row
            models.Index(fields=["created_at", "kind"]),  # the dashboard's counts
            models.Index(fields=["created_at", "model"]),  # calls to the AI service today
            models.Index(fields=["kind", "answer_by"]),  # what awaits the assistant
        ]

    def __str__(self):
        return f"{self.get_kind_display()} ({self.created_at:%Y-%m-%d %H:%M})"

    @classmethod
    def claim(cls, pk: int, by: str, now: datetime, stale_before: datetime) -> bool:
        """Worker `by` takes an awaited answer no worker holds, or one whose worker claimed
        it before `stale_before` (it died while asking): a conditional UPDATE."""
        free_or_stale = models.Q(claimed_by="") | models.Q(claimed_at__lt=stale_before)
        awaited = cls.objects.filter(free_or_stale, pk=pk, kind=cls.Kind.AWAITING)
        return bool(awaited.update(claimed_by=by, claimed_at=now))

    @classmethod
    def conclude(cls, pk: int, by: str, **fields) -> bool:
        """Record what came of an awaited answer `by` holds (False: another worker took it
        over meanwhile, and records it)."""
        held = cls.objects.filter(pk=pk, kind=cls.Kind.AWAITING, claimed_by=by)
        return bool(held.update(claimed_by="", **fields))

    def entry_titles(self) -> str:
        return ", ".join(entry["title"] for entry in self.entries)


# What an answer records, as the admin and the API show it (read-only).
ANSWER_FIELDS = [
    "conversation",
    "question",
    "reply",
    "kind",
    "entries",
    "reason",
    "model",
    "prompt_tokens",
    "completion_tokens",
    "elapsed_ms",
    "verdict",
    "judged_by",
    "judged_at",
]
