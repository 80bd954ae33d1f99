from django.core.exceptions import ValidationError
from django.db import models

from instabot.text_limits import (
    KEYWORD_MAX_LENGTH,
    KEYWORDS_MAX_LENGTH,
    KEYWORDS_PER_RULE,
    REPLY_MAX_LENGTH,
)
from meta import messages
from meta.messages import validate_payload_name


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


# What Meta's webhook calls attachments that carry no text (meta-platform-notes).
ATTACHMENT_TYPES = frozenset(
    "image video audio file sticker share ig_post reel ig_reel story ig_story".split()
)


def validate_attachment_types(text: str) -> None:
    if unknown := [kind for kind in split_list(text) if kind not in ATTACHMENT_TYPES]:
        raise ValidationError(
            f"Unknown attachment type {unknown[0]!r}: one of {', '.join(sorted(ATTACHMENT_TYPES))}."
        )


def _items(value, what: str, keys: set[str]) -> list[dict]:
    """A JSON list of objects of strings, as the API and the admin's lines give it."""
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ValidationError(f"{what}: a list of objects.")
    for item in value:
        if set(item) - keys or not all(isinstance(v, str) for v in item.values()):
            raise ValidationError(f"{what}: each has only {', '.join(sorted(keys))} (text).")
    return value


def validate_quick_replies(value) -> None:
    items = _items(value, "Quick replies", {"title", "payload"})
    quick = messages.Text(
        "", tuple(messages.QuickReply(i.get("title", ""), i.get("payload", "")) for i in items)
    )
    if problems := quick.problems():
        raise ValidationError(problems)
    _check_payload_names(i.get("payload", "") for i in items)


def validate_buttons(value) -> None:
    items = _items(value, "Buttons", {"title", "payload", "url"})
    if len(items) > messages.BUTTONS_MAX:
        raise ValidationError(f"At most {messages.BUTTONS_MAX} buttons ({len(items)} given).")
    problems = [p for button in messages.buttons_from_json(items) for p in button.problems()]
    if problems:
        raise ValidationError(problems)
    _check_payload_names(i.get("payload", "") for i in items)


def _check_payload_names(payloads) -> None:
    for payload in payloads:
        if payload:
            validate_payload_name(payload)


def validate_reply(text: str) -> None:
    if not text.strip():
        raise ValidationError("The reply cannot be empty.")


def split_list(text: str) -> list[str]:
    """A comma-separated setting (attachment types) as its items."""
    return [item.strip().lower() for item in text.split(",") if item.strip()]


class ResponseRule(models.Model):
    """A reply staff wrote: what starts it (its trigger), and what it sends."""

    class Trigger(models.TextChoices):
        # In the order the bot asks them of a customer's message (rules.matching.TRIGGER_ORDER).
        PAYLOAD = "payload", "A button, quick reply, ice breaker or menu item"
        REFERRAL = "referral", "Came from a link or an ad (referral)"
        STORY_MENTION = "story_mention", "Mentioned the account in a story"
        STORY_REPLY = "story_reply", "Replied to one of the account's stories"
        WELCOME = "welcome", "A new customer's first message"
        KEYWORDS = "keywords", "Keywords in the message"
        ATTACHMENT = "attachment", "A message with no text (photo, video, sticker …)"

    class MatchType(models.TextChoices):
        CONTAINS = "contains", "Contains a keyword"
        WORD = "word", "Contains a keyword as a whole word"
        EXACT = "exact", "Is exactly a keyword"
        STARTS_WITH = "starts_with", "Starts with a keyword"

    # Field validators, not clean(): a form skips them for a field it already refused (a
    # 2 MB reply is "too long", not also "empty", as clean() would see it unset).
    trigger = models.CharField(max_length=16, choices=Trigger, default=Trigger.KEYWORDS)
    keywords = models.TextField(
        max_length=KEYWORDS_MAX_LENGTH,
        blank=True,
        validators=[validate_keywords],
        help_text="Keywords trigger: one or more keywords, comma-separated. Capitals do not "
        "matter, accents do: “café” does not match “cafe”. Emoji work too.",
    )
    payload = models.CharField(
        max_length=100,
        blank=True,
        validators=[validate_payload_name],
        help_text="Button trigger: the payload a button, quick reply, ice breaker or menu item "
        "sends (say MAIN_MENU). Point other rules' buttons at it to build a flow.",
    )
    referral_ref = models.CharField(
        "ref or ad id",
        max_length=255,
        blank=True,
        help_text="Referral trigger: the ref of an ig.me/m/<username>?ref=… link, or an ad's "
        "id. Empty: any link or ad.",
    )
    attachment_types = models.CharField(
        max_length=200,
        blank=True,
        validators=[validate_attachment_types],
        help_text="No-text trigger: attachment types, comma-separated (image, video, audio, "
        "sticker, share, ig_reel …). Empty: any message without text.",
    )
    response_text = models.TextField(
        max_length=REPLY_MAX_LENGTH,
        validators=[validate_reply],
        help_text=f"At most {REPLY_MAX_LENGTH:,} characters. Over 1000 bytes, it is sent as "
        "several messages, in order. With buttons: at most 640 characters.",
    )
    quick_replies = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_quick_replies],
        help_text="Shown under the reply for the customer to tap (at most 13, titles at most "
        "20 characters). Not shown on Instagram's desktop site.",
    )
    buttons = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_buttons],
        help_text="Up to 3 buttons under the reply: a payload (another rule) or a link.",
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
        if self.trigger == self.Trigger.KEYWORDS:
            return f"{self.get_match_type_display()}: {self.keywords[:60]}"
        if self.trigger == self.Trigger.PAYLOAD:
            return f"Payload {self.payload}"
        return self.get_trigger_display()

    def keyword_list(self) -> list[str]:
        return split_keywords(self.keywords)

    def clean(self):
        if self.quick_replies and self.buttons:
            raise ValidationError(
                {"buttons": "A reply has quick replies or buttons, not both: Instagram shows one."}
            )
        if self.buttons and len(self.response_text) > messages.BUTTON_TEXT_MAX:
            raise ValidationError(
                {
                    "response_text": f"With buttons, the reply has at most "
                    f"{messages.BUTTON_TEXT_MAX} characters ({len(self.response_text)} given)."
                }
            )

    def last_message(self) -> messages.Outgoing:
        """The reply's text, with its quick replies or buttons: the last message it sends."""
        if self.buttons:
            return messages.Buttons(self.response_text, messages.buttons_from_json(self.buttons))
        return messages.Text(
            self.response_text,
            tuple(messages.QuickReply(q["title"], q["payload"]) for q in self.quick_replies),
        )

    def payloads_pointed_at(self) -> list[str]:
        """The payloads this rule's buttons and quick replies send back when tapped."""
        found = [item.get("payload", "") for item in [*self.quick_replies, *self.buttons]]
        for extra in self.extra_messages.all():
            found.extend(button.get("payload", "") for button in extra.buttons)
        return [payload for payload in found if payload]


# What staff edit of a rule, in the admin's form and the API alike.
EDITABLE_FIELDS = [
    "trigger",
    "keywords",
    "match_type",
    "payload",
    "referral_ref",
    "attachment_types",
    "response_text",
    "quick_replies",
    "buttons",
    "account",
    "priority",
    "is_active",
]


def trigger_errors(trigger: str, keywords: str, payload: str) -> dict[str, str]:
    """What a rule's trigger needs and lacks, by field (the other triggers' fields are
    ignored). Forms and the API ask it only when those fields are valid on their own: a 6,000
    character keyword list is "too long", not also "empty"."""
    if trigger == ResponseRule.Trigger.KEYWORDS and not split_keywords(keywords):
        return {"keywords": "Give at least one keyword."}
    if trigger == ResponseRule.Trigger.PAYLOAD and not payload.strip():
        return {"payload": "Give the payload that starts this rule (say MAIN_MENU)."}
    return {}


# Messages a rule sends before its text: a welcome is a few messages, not a newsletter.
MAX_EXTRA_MESSAGES = 10


class RuleMessage(models.Model):
    """A message a rule sends before its text: a photo, a video, a clip, a card, more text.

    Sent in order; cards next to each other go out as one carousel.
    """

    class Kind(models.TextChoices):
        IMAGE = "image", "Image"
        VIDEO = "video", "Video"
        AUDIO = "audio", "Audio"
        CARD = "card", "Card (cards in a row make a carousel)"
        TEXT = "text", "Text"

    rule = models.ForeignKey(ResponseRule, on_delete=models.CASCADE, related_name="extra_messages")
    position = models.PositiveSmallIntegerField(default=0)
    kind = models.CharField(max_length=8, choices=Kind)
    text = models.CharField(
        max_length=REPLY_MAX_LENGTH, blank=True, help_text="Text: the message. Card: its title."
    )
    subtitle = models.CharField(max_length=messages.CARD_SUBTITLE_MAX, blank=True)
    url = models.URLField(
        max_length=messages.URL_MAX,
        blank=True,
        help_text="Image, video, audio: its public https link. Card: its picture (optional).",
    )
    buttons = models.JSONField(
        default=list, blank=True, validators=[validate_buttons], help_text="Card: up to 3."
    )

    class Meta:
        ordering = ["position", "id"]

    def __str__(self):
        return f"{self.get_kind_display()} {self.position}"

    def clean(self):
        problems = []
        if self.kind in messages.MEDIA_KINDS:
            problems = messages.Media(self.kind, self.url).problems()
        elif self.kind == self.Kind.CARD:
            problems = self.card().problems()
        elif self.kind != self.Kind.TEXT:
            problems = [f"Unknown kind {self.kind[:20]!r}."]
        elif not self.text.strip():
            problems = ["The text cannot be empty."]
        if self.buttons and self.kind != self.Kind.CARD:
            problems.append("Only cards have buttons here (the rule's own text has its own).")
        if problems:
            raise ValidationError(problems)

    def card(self) -> messages.Card:
        return messages.Card(
            self.text, self.subtitle, self.url, messages.buttons_from_json(self.buttons)
        )


def outgoing_messages(rule: ResponseRule, extras) -> tuple[messages.Outgoing, ...]:
    """Everything `rule` sends, in order: its extra messages (cards in a row as one
    carousel), then its text with its quick replies or buttons."""
    sent: list[messages.Outgoing] = []
    cards: list[messages.Card] = []
    for extra in extras:
        if extra.kind == RuleMessage.Kind.CARD:
            cards.append(extra.card())
            if len(cards) < messages.CARDS_MAX:
                continue
        if cards:
            sent.append(messages.Cards(tuple(cards)))
            cards = []
        if extra.kind in messages.MEDIA_KINDS:
            sent.append(messages.Media(extra.kind, extra.url))
        elif extra.kind == RuleMessage.Kind.TEXT:
            sent.append(messages.Text(extra.text))
    if cards:
        sent.append(messages.Cards(tuple(cards)))
    return (*sent, rule.last_message())
