from rest_framework import viewsets

from accounts.access import ScopedViewSetMixin
from instabot.rest import PATH_ID, ModelSerializer, id_param
from rules.models import ResponseRule


class ResponseRuleSerializer(ModelSerializer):
    class Meta:
        model = ResponseRule
        fields = [
            "id",
            "keywords",
            "response_text",
            "match_type",
            "priority",
            "is_active",
            "account",
            "created_at",
            "updated_at",
        ]


class ResponseRuleViewSet(ScopedViewSetMixin, viewsets.ModelViewSet):
    """Reply rules. Filter with ?account=<id> (rules of that account) or ?account=none."""

    lookup_value_regex = PATH_ID
    queryset = ResponseRule.objects.select_related("account")
    serializer_class = ResponseRuleSerializer

    def get_queryset(self):
        rules = super().get_queryset()
        if self.request.query_params.get("account") == "none":
            return rules.filter(account__isnull=True)
        if (account := id_param(self.request, "account")) is not None:
            return rules.filter(account_id=account)
        return rules
