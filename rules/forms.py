"""The rules admin's forms: buttons and quick replies typed one a line, the Try box."""

import re

from django import forms

from accounts.access import AccountMenusForm
from accounts.models import InstagramBusinessAccount
from instabot.admin_forms import AsciiModelChoiceField
from meta.messages import validate_payload_name
from rules.models import (
    ATTACHMENT_TYPES,
    EDITABLE_FIELDS,
    ResponseRule,
    RuleMessage,
    trigger_errors,
)

ARROW = "->"
LINK = re.compile(r"https?://", re.IGNORECASE)
# A link of another kind (javascript:, data:, ftp://), when it is no payload name either.
SCHEME = re.compile(r"[a-z][a-z0-9+.-]*:", re.IGNORECASE)


class ChoicesField(forms.CharField):
    """Buttons or quick replies, one a line: `Title -> PAYLOAD`, or `Title -> https://…` for
    a link. Stored as the JSON list the API takes; the model's validators check Meta's limits."""

    widget = forms.Textarea(attrs={"rows": 3, "cols": 60})

    def __init__(self, *, links: bool, **kwargs):
        self.links = links
        target = "PAYLOAD or https://link" if links else "PAYLOAD"
        kwargs.setdefault("required", False)
        kwargs.setdefault("help_text", f"One a line: Title {ARROW} {target}.")
        super().__init__(strip=True, **kwargs)

    def prepare_value(self, value):
        if isinstance(value, list):
            return "\n".join(
                f"{item.get('title', '')} {ARROW} {item.get('url') or item.get('payload', '')}"
                for item in value
            )
        return value

    def to_python(self, value):
        items = []
        for line in (value or "").splitlines():
            if not line.strip():
                continue
            # At the first arrow: a title never holds one, a link may.
            title, arrow, target = line.partition(ARROW)
            if not arrow or not title.strip() or not target.strip():
                raise forms.ValidationError(
                    f"Write each line as: Title {ARROW} PAYLOAD ({line.strip()[:40]!r} is not)."
                )
            target = target.strip()
            if LINK.match(target):
                if not self.links:
                    raise forms.ValidationError("Quick replies send a payload, not a link.")
                items.append({"title": title.strip(), "url": target})
            elif SCHEME.match(target) and not validate_payload_name.regex.fullmatch(target):
                raise forms.ValidationError(
                    f"Links start with https:// ({target[:40]!r} does not)."
                )
            else:
                items.append({"title": title.strip(), "payload": target})
        return items


class ResponseRuleForm(forms.ModelForm):
    quick_replies = ChoicesField(
        links=False,
        help_text=f"Shown under the reply for the customer to tap: one a line, Title {ARROW} "
        "PAYLOAD (at most 13, titles at most 20 characters). A rule with that payload answers "
        "the tap; without one, the title is read as a message.",
    )
    buttons = ChoicesField(
        links=True,
        help_text=f"Up to 3 buttons under the reply: one a line, Title {ARROW} PAYLOAD (a rule "
        f"with that payload answers the tap) or Title {ARROW} https://link.",
    )

    class Meta:
        model = ResponseRule
        fields = EDITABLE_FIELDS
        widgets = {"keywords": forms.Textarea(attrs={"rows": 2, "cols": 60})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Only keyword rules have a match kind; hidden for the others, it keeps its default.
        if "match_type" in self.fields:
            self.fields["match_type"].required = False

    def clean_match_type(self):
        return self.cleaned_data["match_type"] or ResponseRule.MatchType.CONTAINS

    def clean(self):
        cleaned = super().clean()
        fields = ("trigger", "keywords", "payload")
        if not any(name in self.errors for name in fields):
            for field, error in trigger_errors(*(cleaned.get(f, "") for f in fields)).items():
                self.add_error(field, error)
        return cleaned


class RuleMessageForm(forms.ModelForm):
    url = forms.URLField(
        required=False,
        assume_scheme="https",
        widget=forms.URLInput(
            attrs={"class": "vURLField", "style": "width: 100%; max-width: 40em"}
        ),
        max_length=RuleMessage._meta.get_field("url").max_length,
        help_text=RuleMessage._meta.get_field("url").help_text,
    )
    buttons = ChoicesField(
        links=True, help_text=f"Card only: up to 3, Title {ARROW} PAYLOAD or link."
    )

    class Meta:
        model = RuleMessage
        fields = ["position", "kind", "text", "subtitle", "url", "buttons"]


class TryMessageForm(AccountMenusForm):
    """A customer's message as the bot would see it, to ask which rule answers."""

    text = forms.CharField(
        label="Message",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
    )
    account = AsciiModelChoiceField(
        InstagramBusinessAccount.objects.none(),
        required=False,
        empty_label="Any account (rules for every account only)",
    )
    payload = forms.CharField(
        required=False, max_length=1000, help_text="A tapped button's or quick reply's payload."
    )
    referral_ref = forms.CharField(
        label="Came from ref or ad id",
        required=False,
        max_length=255,
        help_text="As if they opened the chat from ig.me/m/…?ref=this, or from this ad.",
    )
    story = forms.ChoiceField(
        required=False,
        choices=[
            ("", "—"),
            ("mention", "Mentions the account in a story"),
            ("reply", "Replies to a story"),
        ],
    )
    attachment = forms.ChoiceField(
        label="Attachment",
        required=False,
        choices=[("", "—"), *((kind, kind) for kind in sorted(ATTACHMENT_TYPES))],
    )
    first_message = forms.BooleanField(label="A new customer's first message", required=False)

    def clean(self):
        cleaned = super().clean()
        if not any(
            cleaned.get(name) for name in ("text", "payload", "referral_ref", "story", "attachment")
        ):
            raise forms.ValidationError("Type a message, or say what else it carries.")
        return cleaned
