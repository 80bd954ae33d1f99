"""/api/rule-actions/ and /api/reply-variants/: a rule's flow actions and A/B variants,
checked as the admin checks them. Rows belong to their rule's account: staff change those of
the rules they may change (shared rules: all-accounts staff)."""

from django.core.exceptions import ValidationError
from rest_framework import serializers, viewsets

from accounts.access import scope
from contacts.models import ContactField, ReplyVariant, RuleAction
from contacts.models.flows import MAX_VARIANTS, check_action_list
from instabot.rest import PATH_ID, ModelSerializer, id_param
from rules.api import run_model_clean
from rules.models import ResponseRule


class FlowSerializer(ModelSerializer):
    """Rules and fields are those of the user's accounts (others answer as missing)."""

    def get_fields(self):
        fields = super().get_fields()
        user = self.context["request"].user
        for field in fields.values():
            model = getattr(field, "queryset", None) is not None and field.queryset.model
            if model is ResponseRule:
                field.queryset = scope(ResponseRule.objects.all(), user, "account")
            elif model is ContactField:
                field.queryset = scope(ContactField.objects.all(), user, "account", shared=True)
        return fields

    def candidate(self, attrs):
        model = self.Meta.model
        current = {}
        if self.instance is not None:
            current = {f.attname: getattr(self.instance, f.attname) for f in model._meta.fields}
        candidate = model(**current)
        for key, value in attrs.items():
            setattr(candidate, key, value)
        return candidate


class RuleActionSerializer(FlowSerializer):
    class Meta:
        model = RuleAction
        fields = [
            "id",
            "rule",
            "position",
            "kind",
            "tag",
            "field",
            "value",
            "retry_text",
            "url",
            "then_rule",
            "else_rule",
        ]

    def validate(self, attrs):
        action = self.candidate(attrs)
        run_model_clean(action)
        attrs.update(tag=action.tag, value=action.value)  # as clean() wrote them
        others = RuleAction.objects.filter(rule=action.rule).exclude(pk=action.pk)
        listed = sorted([*others, action], key=lambda a: (a.position, a.pk or 0))
        run_model_clean_list(listed)
        return attrs


def run_model_clean_list(actions) -> None:
    try:
        check_action_list(actions)
    except ValidationError as exc:
        raise serializers.ValidationError({"non_field_errors": exc.messages}) from None


class ReplyVariantSerializer(FlowSerializer):
    class Meta:
        model = ReplyVariant
        fields = ["id", "rule", "label", "text", "weight"]

    def validate(self, attrs):
        variant = self.candidate(attrs)
        run_model_clean(variant)
        siblings = ReplyVariant.objects.filter(rule=variant.rule).exclude(pk=variant.pk)
        if siblings.count() >= MAX_VARIANTS:
            raise serializers.ValidationError(
                {"rule": [f"At most {MAX_VARIANTS} variants a rule."]}
            )
        return attrs


class RuleFlowViewSet(viewsets.ModelViewSet):
    """Filter with ?rule=<id>."""

    lookup_value_regex = PATH_ID

    def get_queryset(self):
        rows = scope(super().get_queryset(), self.request.user, "rule__account")
        if (rule := id_param(self.request, "rule")) is not None:
            rows = rows.filter(rule_id=rule)
        return rows


class RuleActionViewSet(RuleFlowViewSet):
    """A rule's flow actions: add/remove a tag, set a field, ask and save, branch."""

    queryset = RuleAction.objects.select_related("rule", "field")
    serializer_class = RuleActionSerializer


class ReplyVariantViewSet(RuleFlowViewSet):
    """A rule's A/B variants of its text, sent by weight."""

    queryset = ReplyVariant.objects.select_related("rule")
    serializer_class = ReplyVariantSerializer
