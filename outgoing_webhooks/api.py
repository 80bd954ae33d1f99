"""/api/webhooks/: outgoing webhooks per account. The signing secret is in the answer to the
POST that creates one, and never again; each endpoint lists its last answers."""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers, viewsets

from accounts.access import ScopedViewSetMixin
from instabot.rest import PATH_ID, ModelSerializer
from messaging.hooks import BUSINESS_EVENTS
from outgoing_webhooks.admin import ANSWERS_SHOWN
from outgoing_webhooks.forms import clean_events, clean_url
from outgoing_webhooks.models import EndpointDelivery, WebhookEndpoint


def _as_400(check, value):
    try:
        return check(value)
    except DjangoValidationError as exc:
        raise serializers.ValidationError(exc.messages) from None


class AnswerSerializer(ModelSerializer):
    class Meta:
        model = EndpointDelivery
        fields = ["id", "event", "status", "attempts", "answer_status", "answered_at", "last_error"]


class WebhookEndpointSerializer(ModelSerializer):
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=list(BUSINESS_EVENTS)), max_length=20
    )
    last_answers = serializers.SerializerMethodField()

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "account",
            "url",
            "events",
            "is_active",
            "disabled_reason",
            "failing_since",
            "last_success_at",
            "last_answers",
        ]
        read_only_fields = ["disabled_reason", "failing_since", "last_success_at"]

    def validate_url(self, url):
        return _as_400(clean_url, url)

    def validate_events(self, events):
        return _as_400(clean_events, events)

    def get_last_answers(self, endpoint) -> list[dict]:
        deliveries = endpoint.deliveries.order_by("-created_at", "-pk")[:ANSWERS_SHOWN]
        return AnswerSerializer(deliveries, many=True).data

    def create(self, validated_data):
        endpoint = WebhookEndpoint(**validated_data)
        self.secret = endpoint.new_secret()
        endpoint.save()
        return endpoint

    def update(self, endpoint, validated_data):
        if validated_data.get("is_active") and not endpoint.is_active:
            validated_data.update(disabled_reason="", failing_since=None)
        return super().update(endpoint, validated_data)

    def to_representation(self, endpoint):
        data = super().to_representation(endpoint)
        if secret := getattr(self, "secret", None):
            data["secret"] = secret  # shown this once
        return data


class WebhookEndpointViewSet(ScopedViewSetMixin, viewsets.ModelViewSet):
    """Outgoing webhooks: events POSTed as JSON signed with HMAC-SHA256 (README)."""

    lookup_value_regex = PATH_ID
    queryset = WebhookEndpoint.objects.select_related("account")
    serializer_class = WebhookEndpointSerializer
