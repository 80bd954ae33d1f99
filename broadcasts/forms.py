"""The admin's broadcast form: a segment as staff think of it (tags, fields, source, last
seen), stored as the contacts' filters (contacts.filtering.Segment) the API takes too."""

from django import forms
from django.core.exceptions import ValidationError
from django.http import QueryDict

from broadcasts.models import Broadcast
from broadcasts.sending import parse_segment
from contacts.filtering import BadFilter
from contacts.models import Contact
from contacts.values import check_text


class BroadcastForm(forms.ModelForm):
    tags = forms.CharField(
        required=False, max_length=1_000, help_text="Comma-separated: contacts with every one."
    )
    fields_filter = forms.CharField(
        label="Fields",
        required=False,
        max_length=2_000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="One a line: city:Paris (that value) or city (any value).",
    )
    source = forms.ChoiceField(
        choices=[("", "Any source"), *Contact.Source.choices], required=False
    )
    # Read by the segment, as the API's filters are (a date, or an ISO time).
    last_seen_after = forms.CharField(
        required=False, max_length=40, help_text="A date (2026-12-01) or an ISO time."
    )
    last_seen_before = forms.CharField(required=False, max_length=40)

    class Meta:
        model = Broadcast
        fields = ["account", "name", "text", "send_at"]
        help_texts = {
            "send_at": "Empty: sent when you press Send. A later time schedules it.",
            "text": "What each contact gets, as one DM.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            query = QueryDict(self.instance.segment)
            self.initial.update(
                tags=", ".join(query.getlist("tag")),
                fields_filter="\n".join(query.getlist("field")),
                source=query.get("source", ""),
                last_seen_after=query.get("last_seen_after"),
                last_seen_before=query.get("last_seen_before"),
            )

    def clean_text(self):
        text = check_text(self.cleaned_data["text"], "The message", 2_000)
        if not text:
            raise ValidationError("A broadcast needs a message.")
        return text

    def clean(self):
        cleaned = super().clean()
        query = QueryDict(mutable=True)
        for tag in (self.cleaned_data.get("tags") or "").split(","):
            if tag.strip():
                query.appendlist("tag", tag.strip())
        for line in (self.cleaned_data.get("fields_filter") or "").splitlines():
            if line.strip():
                query.appendlist("field", line.strip())
        for name in ("source", "last_seen_after", "last_seen_before"):
            if value := cleaned.get(name):
                query[name] = value
        try:
            parse_segment(query.urlencode())
        except (BadFilter, ValidationError) as exc:
            raise ValidationError(str(exc)) from None
        self.instance.segment = query.urlencode()
        return cleaned
