import copy

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from rest_framework import serializers, viewsets

from accounts.access import ScopedViewSetMixin
from instabot.rest import PATH_ID, ModelSerializer, id_param
from rules.models import (
    EDITABLE_FIELDS,
    MAX_EXTRA_MESSAGES,
    ResponseRule,
    RuleMessage,
    trigger_errors,
)


def run_model_clean(instance) -> None:
    """The model's own clean(), whose checks the admin runs too, as the API's 400."""
    try:
        instance.clean()
    except DjangoValidationError as exc:
        raise serializers.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        ) from None


class RuleMessageSerializer(ModelSerializer):
    class Meta:
        model = RuleMessage
        fields = ["kind", "text", "subtitle", "url", "buttons"]

    def validate(self, attrs):
        run_model_clean(RuleMessage(**attrs))
        return attrs


class ResponseRuleSerializer(ModelSerializer):
    extra_messages = RuleMessageSerializer(
        many=True,
        required=False,
        max_length=MAX_EXTRA_MESSAGES,
        help_text="Sent before the rule's text, in order (cards in a row: one carousel). "
        "Given on an update, it replaces the rule's extra messages.",
    )

    class Meta:
        model = ResponseRule
        fields = ["id", *EDITABLE_FIELDS, "extra_messages", "created_at", "updated_at"]

    def validate(self, attrs):
        # The rule as it would be saved, for the checks across its fields.
        candidate = copy.copy(self.instance) if self.instance is not None else ResponseRule()
        for key, value in attrs.items():
            if key != "extra_messages":
                setattr(candidate, key, value)
        run_model_clean(candidate)
        if errors := trigger_errors(candidate.trigger, candidate.keywords, candidate.payload):
            raise serializers.ValidationError(errors)
        return attrs

    @transaction.atomic
    def create(self, validated_data):
        extras = validated_data.pop("extra_messages", [])
        rule = super().create(validated_data)
        _replace_extra_messages(rule, extras)
        return rule

    @transaction.atomic
    def update(self, instance, validated_data):
        extras = validated_data.pop("extra_messages", None)
        rule = super().update(instance, validated_data)
        if extras is not None:
            _replace_extra_messages(rule, extras)
        return rule


def _replace_extra_messages(rule: ResponseRule, extras: list[dict]) -> None:
    rule.extra_messages.all().delete()
    RuleMessage.objects.bulk_create(
        RuleMessage(rule=rule, position=position, **extra) for position, extra in enumerate(extras)
    )
    # bulk_create sends no signal: the rule changed, for every process's matcher.
    rule.save(update_fields=["updated_at"])


class ResponseRuleViewSet(ScopedViewSetMixin, viewsets.ModelViewSet):
    """Reply rules. Filter with ?account=<id> (rules of that account) or ?account=none."""

    lookup_value_regex = PATH_ID
    queryset = ResponseRule.objects.select_related("account").prefetch_related("extra_messages")
    serializer_class = ResponseRuleSerializer

    def get_queryset(self):
        rules = super().get_queryset()
        if self.request.query_params.get("account") == "none":
            return rules.filter(account__isnull=True)
        if (account := id_param(self.request, "account")) is not None:
            return rules.filter(account_id=account)
        return rules
