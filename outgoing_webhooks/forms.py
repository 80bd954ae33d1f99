from django import forms
from django.core.exceptions import ValidationError

from contacts.values import check_text
from instabot.safe_urls import check_url
from messaging.hooks import BUSINESS_EVENTS
from outgoing_webhooks.models import WebhookEndpoint

EVENT_CHOICES = list(BUSINESS_EVENTS.items())


def clean_url(url: str) -> str:
    """ValidationError unless the service may POST there (text, then safe_urls.check_url)."""
    return check_url(check_text(url, "The URL", 2_000))


def clean_events(events) -> list[str]:
    if not isinstance(events, list) or not events:
        raise ValidationError("Choose at least one event.")
    unknown = [e for e in events if not isinstance(e, str) or e not in BUSINESS_EVENTS]
    if unknown:
        raise ValidationError(f"Events are among {', '.join(BUSINESS_EVENTS)}.")
    return sorted(set(events))


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(
        label="URL",
        max_length=2_000,
        assume_scheme="https",
        widget=forms.URLInput(attrs={"class": "vURLField"}),
        help_text="https:// and a public host: each event is POSTed there as signed JSON.",
    )
    events = forms.MultipleChoiceField(choices=EVENT_CHOICES, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = WebhookEndpoint
        fields = ["account", "url", "events", "is_active"]
        help_texts = {
            "is_active": "Turned off by itself after a day of failures; turn it on again here.",
        }

    def clean_url(self):
        return clean_url(self.cleaned_data["url"])

    def clean_events(self):
        return clean_events(list(self.cleaned_data["events"]))
