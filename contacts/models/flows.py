"""Flows that act: what a rule's reply does besides sending (tags, fields, a question, a
branch) and the A/B variants of its text. Checked when saved, in the admin and the API."""

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from contacts.models.contacts import ContactField
from contacts.values import check_text, clean_tag
from instabot.safe_urls import check_url
from instabot.text_limits import REPLY_MAX_LENGTH
from meta import messages

# How many times a question is asked again when the answer does not fit the field.
ASK_RETRIES = 2
# A question not answered within Instagram's 24-hour window lapses: a message days later is a
# new message, not an answer.
ASK_LAPSES_AFTER = timedelta(hours=24)
# Variants a rule may have: an A/B(/C…) test, not a lottery.
MAX_VARIANTS = 5
# Actions a rule may have.
MAX_ACTIONS = 10


class RuleAction(models.Model):
    """One thing a rule's reply does, in order with the rule's other actions."""

    class Kind(models.TextChoices):
        ADD_TAG = "add_tag", "Add a tag"
        REMOVE_TAG = "remove_tag", "Remove a tag"
        SET_FIELD = "set_field", "Set a field"
        ASK = "ask", "Ask and save (the reply asks; the next message is saved to the field)"
        BRANCH = "branch", "Branch (go to one rule or another)"
        REQUEST = "request", "External request (POST the contact; save fields from the answer)"

    # The kinds that end a rule's actions: what follows is the customer's answer or another rule.
    LAST_KINDS = (Kind.ASK, Kind.BRANCH)

    rule = models.ForeignKey("rules.ResponseRule", on_delete=models.CASCADE, related_name="actions")
    position = models.PositiveSmallIntegerField(default=0)
    kind = models.CharField(max_length=10, choices=Kind)
    tag = models.CharField(
        max_length=64, blank=True, help_text="Add/remove a tag; branch: has this tag."
    )
    field = models.ForeignKey(
        ContactField,
        null=True,
        blank=True,
        # Deleting a field or a rule a flow uses leaves the action incomplete, skipped when
        # it runs and refused when next saved, rather than blocking the deletion.
        on_delete=models.SET_NULL,
        related_name="actions",
        help_text="Set a field; ask and save; branch: on this field's value.",
    )
    value = models.CharField(
        max_length=1_000,
        blank=True,
        help_text="Set a field: the value. Branch on a field: the value it must have "
        "(empty: any value).",
    )
    retry_text = models.CharField(
        max_length=REPLY_MAX_LENGTH,
        blank=True,
        help_text=f"Ask and save: sent when the answer does not fit the field (at most "
        f"{ASK_RETRIES} times; then the question is dropped).",
    )
    url = models.URLField(
        "URL",
        max_length=2_000,
        blank=True,
        help_text="External request: where the contact and the message are POSTed as JSON "
        "(https, a host in EXTERNAL_REQUEST_ALLOWED_HOSTS); fields named in its JSON answer "
        "are saved.",
    )
    then_rule = models.ForeignKey(
        "rules.ResponseRule",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Ask and save: the rule that goes on once the answer is saved. "
        "Branch: the rule when the condition holds.",
    )
    else_rule = models.ForeignKey(
        "rules.ResponseRule",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Branch: the rule when it does not (empty: nothing more).",
    )

    class Meta:
        ordering = ["position", "id"]

    def __str__(self):
        return f"{self.get_kind_display().split(' (')[0]} {self.position}"

    def clean(self):
        problems: dict[str, str] = {}
        kind = self.kind
        if kind in (self.Kind.ADD_TAG, self.Kind.REMOVE_TAG) or (
            kind == self.Kind.BRANCH and self.tag
        ):
            try:
                self.tag = clean_tag(self.tag)
            except ValidationError as exc:
                problems["tag"] = exc.messages[0]
        if kind in (self.Kind.SET_FIELD, self.Kind.ASK) and self.field_id is None:
            problems["field"] = "Choose the field."
        if kind == self.Kind.BRANCH and bool(self.tag) == (self.field_id is not None):
            problems["tag"] = "Branch on a tag or on a field: give one of them."
        if kind == self.Kind.SET_FIELD and self.field_id is not None:
            try:
                self.value = self.field.clean_value(self.value)
            except ValidationError as exc:
                problems["value"] = exc.messages[0]
        if kind == self.Kind.BRANCH and self.field_id is not None and self.value:
            try:
                self.value = self.field.clean_value(self.value)
            except ValidationError as exc:
                problems["value"] = exc.messages[0]
        if kind == self.Kind.REQUEST:
            try:
                check_url(check_text(self.url, "The URL", 2_000), external_request_hosts())
            except ValidationError as exc:
                problems["url"] = exc.messages[0]
        elif self.url:
            problems["url"] = "Only an external request has a URL."
        if kind == self.Kind.ASK and not self.retry_text.strip():
            problems["retry_text"] = "Say what the customer gets when the answer does not fit."
        if kind in self.LAST_KINDS and self.then_rule_id is None:
            problems["then_rule"] = "Choose the rule that goes on."
        if kind not in self.LAST_KINDS and (self.then_rule_id or self.else_rule_id):
            problems["then_rule"] = "Only a question or a branch goes on to another rule."
        for name in ("then_rule", "else_rule"):
            target = getattr(self, name) if getattr(self, f"{name}_id") else None
            if target is None or name in problems:
                continue
            if self.rule_id is not None and target.pk == self.rule_id:
                problems[name] = "A rule cannot go on to itself."
            elif not _same_account(target.account_id, self.rule_account_id()):
                problems[name] = "Choose a rule of the same account (or a shared one)."
        if self.field_id is not None and "field" not in problems:
            if not _same_account(self.field.account_id, self.rule_account_id()):
                problems["field"] = "Choose a field of the rule's account (or a shared one)."
        if problems:
            raise ValidationError(problems)

    def rule_account_id(self):
        # The rule may be unsaved yet (the admin's inline on a new rule's page).
        rule = getattr(self, "rule", None) if self.rule_id is None else self.rule
        return rule.account_id if rule is not None else None


def external_request_hosts() -> frozenset[str]:
    return frozenset(settings.EXTERNAL_REQUEST_ALLOWED_HOSTS)


def _same_account(used_account_id, rule_account_id) -> bool:
    """A rule may use what is shared (no account) or its own account's."""
    return used_account_id is None or used_account_id == rule_account_id


def check_action_list(actions: list[RuleAction]) -> None:
    """Across a rule's actions: at most MAX_ACTIONS, and a question or branch only last."""
    if len(actions) > MAX_ACTIONS:
        raise ValidationError(f"At most {MAX_ACTIONS} actions a rule ({len(actions)} given).")
    for action in actions[:-1]:
        if action.kind in RuleAction.LAST_KINDS:
            raise ValidationError(
                "A question or a branch is the rule's last action: what follows it is the "
                "customer's answer or another rule."
            )


class ReplyVariant(models.Model):
    """One text an A/B test may send instead of the rule's own, picked by weight."""

    rule = models.ForeignKey(
        "rules.ResponseRule", on_delete=models.CASCADE, related_name="variants"
    )
    label = models.CharField(max_length=20, help_text="How the dashboard names it (say A).")
    text = models.TextField(max_length=REPLY_MAX_LENGTH)
    weight = models.PositiveSmallIntegerField(
        default=1, help_text="Sent in proportion to its weight among the rule's variants."
    )

    class Meta:
        ordering = ["label", "id"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "label"], name="one_variant_per_label"),
        ]

    def __str__(self):
        return f"{self.label}: {self.text[:40]}"

    def clean(self):
        problems = {}
        if not self.text.strip():
            problems["text"] = "The variant's text cannot be empty."
        elif (
            (rule := getattr(self, "rule", None)) is not None  # unsaved on a new rule's page
            and rule.buttons
            and len(self.text) > messages.BUTTON_TEXT_MAX
        ):
            problems["text"] = (
                f"The rule has buttons: at most {messages.BUTTON_TEXT_MAX} characters "
                f"({len(self.text)} given)."
            )
        if not self.label.strip():
            problems["label"] = "Name the variant (say A)."
        if self.weight is not None and self.weight < 1:
            problems["weight"] = "A weight of at least 1."
        if problems:
            raise ValidationError(problems)


class VariantSent(models.Model):
    """A variant sent to a contact, and what followed it (their next message)."""

    variant = models.ForeignKey(ReplyVariant, on_delete=models.CASCADE, related_name="sends")
    contact = models.ForeignKey("contacts.Contact", on_delete=models.CASCADE, related_name="+")
    sent_at = models.DateTimeField(default=timezone.now)
    tapped = models.BooleanField(default=False)  # a button or quick reply next
    replied = models.BooleanField(default=False)  # a message with text next
    tagged = models.BooleanField(default=False)  # a tag added by what followed

    class Meta:
        indexes = [models.Index(fields=["variant", "sent_at"])]

    def __str__(self):
        return f"variant {self.variant_id} to {self.contact_id}"
