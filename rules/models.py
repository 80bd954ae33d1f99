from django.core.exceptions import ValidationError
from django.db import models

from instabot.text_limits import (
    KEYWORD_MAX_LENGTH,
    KEYWORDS_MAX_LENGTH,
    KEYWORDS_PER_RULE,
    REPLY_MAX_LENGTH,
)


def split_keywords(keywords: str) -> list[str]:
    """A rule's `keywords` text as its keywords: comma-separated, spaces around them ignored."""
    return [keyword.strip() for keyword in keywords.split(",") if keyword.strip()]


def validate_keywords(keywords: str) -> None:
    """A rule's keywords: at least one, a list a person can read through."""
    listed = split_keywords(keywords)
    if not listed:
        raise ValidationError("Give at least one keyword.")
    if len(listed) > KEYWORDS_PER_RULE:
        raise ValidationError(f"At most {KEYWORDS_PER_RULE} keywords a rule ({len(listed)} given).")
    if too_long := [keyword for keyword in listed if len(keyword) > KEYWORD_MAX_LENGTH]:
        raise ValidationError(
            f"A keyword has at most {KEYWORD_MAX_LENGTH} characters; "
            f"{too_long[0][:20]!r}… has {len(too_long[0])}."
        )


def validate_reply(text: str) -> None:
    if not text.strip():
        raise ValidationError("The reply cannot be empty.")


class ResponseRule(models.Model):
    """A reply staff wrote for messages containing certain keywords."""

    class MatchType(models.TextChoices):
        CONTAINS = "contains", "Contains a keyword"
        WORD = "word", "Contains a keyword as a whole word"
        EXACT = "exact", "Is exactly a keyword"
        STARTS_WITH = "starts_with", "Starts with a keyword"

    # Field validators, not clean(): a form skips them for a field it already refused (a
    # 2 MB reply is "too long", not also "empty", as clean() would see it unset).
    keywords = models.TextField(
        max_length=KEYWORDS_MAX_LENGTH,
        validators=[validate_keywords],
        help_text="One or more keywords, comma-separated. Capitals do not matter, accents do: "
        "“café” does not match “cafe”. Emoji work too.",
    )
    response_text = models.TextField(
        max_length=REPLY_MAX_LENGTH,
        validators=[validate_reply],
        help_text=f"At most {REPLY_MAX_LENGTH:,} characters. Over 1000 bytes, it is sent as "
        "several messages, in order.",
    )
    match_type = models.CharField(max_length=16, choices=MatchType, default=MatchType.CONTAINS)
    priority = models.IntegerField(
        default=0,
        help_text="When several rules match, the highest priority answers; "
        "among equals, the oldest rule.",
    )
    is_active = models.BooleanField("active", default=True)
    account = models.ForeignKey(
        "accounts.InstagramBusinessAccount",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="rules",
        help_text="Empty: the rule answers for every account.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-priority", "created_at", "id"]
        indexes = [models.Index(fields=["updated_at"])]  # the matcher's freshness check

    def __str__(self):
        return f"{self.get_match_type_display()}: {self.keywords[:60]}"

    def keyword_list(self) -> list[str]:
        return split_keywords(self.keywords)
