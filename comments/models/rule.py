"""What staff decide: the comment rules, and the limits of what a reply may say."""

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from instabot.text_limits import KEYWORDS_MAX_LENGTH
from rules.models import ResponseRule, split_keywords, validate_keywords

# Instagram's longest comment; a private reply is one message (the Send API's 1000 bytes).
MAX_PUBLIC_REPLY_CHARACTERS = 2200
MAX_PRIVATE_REPLY_BYTES = 1000


class CommentRule(models.Model):
    """What to do with comments containing certain keywords: a private reply (a DM, the
    first message of a conversation with the commenter), a public reply, or both."""

    class Scope(models.TextChoices):
        POST = "post", "One post or reel"
        ANY_POST = "any", "Any post or reel"
        NEXT_POST = "next", "The next post published"
        # Answered by the worker once it has read the mentioning comment (or caption).
        MENTION = "mention", "Where the account is @mentioned"

    account = models.ForeignKey(
        "accounts.InstagramBusinessAccount",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="comment_rules",
        help_text="Empty: the rule answers for every account.",
    )
    keywords = models.TextField(
        # As reply rules: at most KEYWORDS_PER_RULE keywords, KEYWORD_MAX_LENGTH characters each.
        max_length=KEYWORDS_MAX_LENGTH,
        blank=True,
        help_text="One or more keywords, comma-separated; matched as in reply rules "
        "(case, accents and emoji presentation as there). @mentions: optional, matched "
        "against the mentioning comment (or caption); empty: every mention.",
    )
    match_type = models.CharField(
        max_length=16, choices=ResponseRule.MatchType, default=ResponseRule.MatchType.CONTAINS
    )
    scope = models.CharField(max_length=8, choices=Scope, default=Scope.ANY_POST)
    media_id = models.CharField(
        "post id",
        max_length=64,
        blank=True,
        help_text="The post or reel (one post): type its id, or pick it from the account's "
        "posts with the magnifying glass. For the next post: filled in when it is published "
        "and commented on.",
    )
    # The next post: since when the rule waits for it, and the account's posts then (none of
    # them is "the next one").
    armed_at = models.DateTimeField(null=True, blank=True, editable=False)
    media_known_at_arming = models.JSONField(default=list, blank=True, editable=False)
    private_reply_text = models.TextField(
        "private reply",
        blank=True,
        help_text="Sent as a DM to the commenter (one message, at most 1000 bytes). "
        "Empty: no private reply. Not for @mentions: Meta has no private reply to a mention.",
    )
    public_replies = models.TextField(
        "public replies",
        blank=True,
        help_text="Posted under the comment: one variant a line, one picked at random for each "
        "comment (identical replies in bulk look like spam). Empty: no public reply. "
        "@mentions are answered with these only: under the mentioning comment, or on the "
        "post whose caption mentions the account.",
    )
    priority = models.IntegerField(
        default=0,
        help_text="When several rules match, the highest priority answers; among equals, "
        "the oldest rule.",
    )
    is_active = models.BooleanField("active", default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-priority", "created_at", "id"]
        indexes = [models.Index(fields=["is_active", "account"])]

    def __str__(self):
        return f"{self.get_scope_display()}: {self.keywords[:60] or 'any'}"

    def keyword_list(self) -> list[str]:
        return split_keywords(self.keywords)

    def public_reply_variants(self) -> list[str]:
        return [line.strip() for line in self.public_replies.splitlines() if line.strip()]

    def clean(self):
        errors = {}
        if self.scope != self.Scope.MENTION or self.keywords.strip():
            # A mention rule's keywords are optional (none: every mention); given, as here.
            try:
                validate_keywords(self.keywords)
            except ValidationError as exc:
                errors["keywords"] = exc.messages
        if self.scope == self.Scope.MENTION:
            # Meta answers a mention in public only (POST /{ig-user-id}/mentions).
            if self.private_reply_text.strip():
                errors["private_reply_text"] = (
                    "A mention cannot be answered privately: leave this empty."
                )
            if not self.public_reply_variants():
                errors["public_replies"] = "A mention is answered in public: give public replies."
        elif not self.private_reply_text.strip() and not self.public_reply_variants():
            errors["private_reply_text"] = "Give a private reply, public replies, or both."
        if len(self.private_reply_text.strip().encode()) > MAX_PRIVATE_REPLY_BYTES:
            errors["private_reply_text"] = (
                f"A private reply is one message: at most {MAX_PRIVATE_REPLY_BYTES} bytes."
            )
        if any(len(v) > MAX_PUBLIC_REPLY_CHARACTERS for v in self.public_reply_variants()):
            errors["public_replies"] = (
                f"Instagram takes at most {MAX_PUBLIC_REPLY_CHARACTERS} characters a comment."
            )
        if self.scope == self.Scope.POST and not self.media_id.strip():
            errors["media_id"] = "Pick the post (or type its id)."
        if self.scope == self.Scope.NEXT_POST and self.account_id is None:
            errors["account"] = "The next post of which account?"
        if errors:
            raise ValidationError(errors)

    def arm_for_next_post(self, known_media_ids: list[str]) -> None:
        """Wait for the account's next post: none of `known_media_ids` (its posts now) is it."""
        self.media_id, self.armed_at = "", timezone.now()
        self.media_known_at_arming = list(known_media_ids)

    def bind_to(self, media_id: str) -> bool:
        """The next post is here: this rule answers on it from now on. False if another
        comment bound it to another post first."""
        bound = CommentRule.objects.filter(pk=self.pk, media_id="").update(media_id=media_id)
        if not bound:
            self.refresh_from_db(fields=["media_id"])
            return self.media_id == media_id
        self.media_id = media_id
        return True


class Post(models.Model):
    """One of the accounts' posts or reels that was commented on: for the inbox, its link and
    thumbnail, asked of Instagram once by the worker when it has nothing better to do."""

    instagram_account_id = models.CharField("account id", max_length=64)
    account = models.ForeignKey(
        "accounts.InstagramBusinessAccount",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    media_id = models.CharField("post id", max_length=64)
    caption = models.TextField(blank=True)
    media_product_type = models.CharField("post type", max_length=32, blank=True)
    permalink = models.URLField(max_length=500, blank=True)
    # Meta's CDN: it expires; shown while it works, never downloaded.
    thumbnail_url = models.URLField(max_length=2000, blank=True)
    published_at = models.CharField(max_length=32, blank=True)  # as Meta sends it
    # When a worker asked Instagram about it; empty: not yet.
    requested_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["instagram_account_id", "media_id"], name="one_post")
        ]
        indexes = [models.Index(fields=["requested_at"])]  # the posts still to ask about

    def __str__(self):
        return self.caption[:40] or self.media_id
