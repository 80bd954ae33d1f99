from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.access import ScopedViewSetMixin
from accounts.models import CREDENTIAL_FIELDS, TOKEN_STATE_FIELDS, InstagramBusinessAccount
from instabot.rest import require_permission


class AccountSerializer(serializers.ModelSerializer):
    # Credentials go in, never come out: responses show only the token's last characters.
    access_token = serializers.CharField(write_only=True, required=False, trim_whitespace=True)
    app_secret = serializers.CharField(write_only=True, required=False, allow_blank=True)
    verify_token = serializers.CharField(write_only=True, required=False, allow_blank=True)
    access_token_hint = serializers.CharField(read_only=True)

    class Meta:
        model = InstagramBusinessAccount
        fields = [
            "id",
            "instagram_id",
            "name",
            "username",
            "page_id",
            "api",
            "is_active",
            "fallback_reply",
            "max_sends_per_second",
            *CREDENTIAL_FIELDS,
            "access_token_hint",
            *TOKEN_STATE_FIELDS,
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["is_active"]  # deactivate with POST …/deactivate/

    def validate(self, data):
        if self.instance is None and not data.get("access_token"):
            raise serializers.ValidationError({"access_token": "An account needs an access token."})
        return data

    def create(self, validated_data):
        token = validated_data.pop("access_token")
        account = InstagramBusinessAccount(**validated_data)
        account.set_access_token(token)
        account.save()
        return account

    def update(self, account, validated_data):
        if token := validated_data.pop("access_token", None):
            account.set_access_token(token)
        return super().update(account, validated_data)


class AccountViewSet(
    ScopedViewSetMixin,
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Business accounts. They are deactivated, not deleted: their conversations stay."""

    account_path = "pk"
    queryset = InstagramBusinessAccount.objects.all()
    serializer_class = AccountSerializer

    @extend_schema(request=None, responses=AccountSerializer)
    @action(detail=True, methods=["post"])
    def deactivate(self, request, pk=None):
        """Stop answering for this account (its deliveries are then kept raw only)."""
        require_permission(request, "accounts.change_instagrambusinessaccount")
        account = self.get_object()
        account.is_active = False
        account.save(update_fields=["is_active", "updated_at"])
        return Response(self.get_serializer(account).data)
