from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts import encryption
from accounts.access import ScopedViewSetMixin, sees_all_accounts
from accounts.models import (
    CREDENTIAL_FIELDS,
    CREDENTIAL_MAX_LENGTH,
    ROUTING_FIELDS,
    TOKEN_STATE_FIELDS,
    InstagramBusinessAccount,
)
from instabot.rest import PATH_ID, ModelSerializer, require_permission

KEEP = "Blank or left out: the stored one is kept (as in the admin)."
OTHER_APP = "Only for an account of another Meta app. "


class CredentialsUnavailable(exceptions.APIException):
    # 503, not 4xx: the request is fine, the service cannot encrypt (or open) credentials
    # until its operator fixes FIELD_ENCRYPTION_KEY; the same request then succeeds.
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "credentials_unavailable"


class AccountSerializer(ModelSerializer):
    # Credentials go in, never come out: responses show only the token's last characters.
    access_token = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=CREDENTIAL_MAX_LENGTH,
        help_text=KEEP,
    )
    app_secret = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=CREDENTIAL_MAX_LENGTH,
        help_text=OTHER_APP + KEEP,
    )
    verify_token = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=CREDENTIAL_MAX_LENGTH,
        help_text=OTHER_APP + KEEP,
    )
    clear_app_secret_and_verify_token = serializers.BooleanField(
        write_only=True,
        required=False,
        default=False,
        help_text="Use the service's own FACEBOOK_APP_SECRET and INSTAGRAM_VERIFY_TOKEN again.",
    )
    access_token_hint = serializers.CharField(
        read_only=True, help_text='The token\'s last characters, or "unreadable".'
    )
    needs_reconnect = serializers.BooleanField(
        read_only=True,
        help_text="Meta refused the token (190), it expired, or its owner removed the app: "
        "connect the account again (staff: the admin's Reconnect).",
    )
    granted_permissions = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="The permissions Meta granted at the last connect.",
    )
    unreadable_credentials = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="Stored credentials that FIELD_ENCRYPTION_KEY does not open (a wrong or "
        "missing key): enter them again, or fix the key.",
    )

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
            "clear_app_secret_and_verify_token",
            "access_token_hint",
            "unreadable_credentials",
            *TOKEN_STATE_FIELDS,
            "needs_reconnect",
            "connected_at",
            "app_scoped_user_id",
            "granted_permissions",
            "created_at",
            "updated_at",
        ]

    def validate(self, data):
        self._refuse_routing_changes_of_limited_staff(data)
        if self.instance is None and not data.get("access_token"):
            raise serializers.ValidationError({"access_token": "An account needs an access token."})
        if any(data.get(name) for name in CREDENTIAL_FIELDS) and not encryption.can_encrypt():
            raise CredentialsUnavailable(
                "FIELD_ENCRYPTION_KEY is not set: credentials cannot be stored. The service's "
                "operator must set it (see .env.example); then send this again."
            )
        return data

    def create(self, validated_data):
        credentials = self._pop_credentials(validated_data)
        account = InstagramBusinessAccount(**validated_data)
        account.set_credentials(**credentials)
        account.save()
        return account

    def update(self, account, validated_data):
        account.set_credentials(**self._pop_credentials(validated_data))
        for name, value in validated_data.items():
            setattr(account, name, value)
        account.save()
        return account

    def _refuse_routing_changes_of_limited_staff(self, data: dict) -> None:
        """Staff limited to some accounts may not repoint an account at Meta (ROUTING_FIELDS);
        sending the values it has is fine (a PUT of what was read)."""
        request = self.context.get("request")
        if self.instance is None or request is None or sees_all_accounts(request.user):
            return
        wanted = [name for name in ROUTING_FIELDS if name in data and self._changes(name, data)]
        if data.get("clear_app_secret_and_verify_token"):
            wanted.append("clear_app_secret_and_verify_token")
        if wanted:
            # 403, not 400: the values may be fine; changing them is not this user's to do.
            raise exceptions.PermissionDenied(
                f"Only staff who see every account may change {', '.join(wanted)}: "
                "they decide which of Meta's deliveries are this account's."
            )

    def _changes(self, name: str, data: dict) -> bool:
        if name in CREDENTIAL_FIELDS:
            # A credential can't be compared without opening it; a blank one keeps it.
            return bool(data[name])
        return data[name] != getattr(self.instance, name)

    @staticmethod
    def _pop_credentials(data: dict) -> dict:
        names = [*CREDENTIAL_FIELDS, "clear_app_secret_and_verify_token"]
        return {name: data.pop(name) for name in names if name in data}


class AccountViewSet(
    ScopedViewSetMixin,
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Business accounts. They are deactivated, not deleted: their conversations stay."""

    # Their history import (/api/accounts/<id>/import_history/) is history.api's: accounts
    # does not import the apps above it.

    account_path = "pk"
    lookup_value_regex = PATH_ID
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
