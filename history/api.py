"""An account's history import through the API: POST /api/accounts/<id>/import_history/ asks
for one, GET shows how far it is. Under the accounts' prefix, registered by instabot.api_urls:
accounts does not import history."""

from argparse import ArgumentTypeError
from datetime import timedelta

from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.access import ScopedViewSetMixin
from accounts.models import InstagramBusinessAccount
from history.importing import request_import
from history.models import HistoryImport
from instabot.rest import PATH_ID, ModelSerializer, require_permission
from messaging.management.durations import age


class HistoryImportSerializer(ModelSerializer):
    class Meta:
        model = HistoryImport
        fields = [
            "state",
            "since",
            "conversations_done",
            "messages_imported",
            "messages_known",
            "api_calls",
            "requested_at",
            "started_at",
            "finished_at",
            "error",
        ]
        read_only_fields = fields


class ImportRequestSerializer(serializers.Serializer):
    since = serializers.CharField(
        required=False,
        help_text="Only conversations active within this age (30d, 12h, 2w), as the command "
        "takes it; default: all Meta returns.",
    )

    def validate_since(self, value: str) -> timedelta:
        try:
            return age(value)
        except ArgumentTypeError as exc:
            raise serializers.ValidationError(str(exc)) from None


class AccountHistoryImportViewSet(ScopedViewSetMixin, viewsets.GenericViewSet):
    """An account's history import (only the accounts the user may see: others answer 404)."""

    account_path = "pk"
    lookup_value_regex = PATH_ID
    queryset = InstagramBusinessAccount.objects.all()
    serializer_class = HistoryImportSerializer

    @extend_schema(request=ImportRequestSerializer, responses={202: HistoryImportSerializer})
    @action(detail=True, methods=["get", "post"])
    def import_history(self, request, pk=None):
        """POST: import this account's recent conversations through the Conversations API (a
        worker runs it; nothing imported is answered; one in hand continues). GET: how far
        its import is."""
        account = self.get_object()
        if request.method == "GET":
            history_import = get_object_or_404(HistoryImport, account=account)
            return Response(HistoryImportSerializer(history_import).data)
        require_permission(request, "accounts.change_instagrambusinessaccount")
        options = ImportRequestSerializer(data=request.data)
        options.is_valid(raise_exception=True)
        since = options.validated_data.get("since")
        history_import = request_import(account, timezone.now() - since if since else None)
        # 202: accepted, not done: a worker runs it; GET on this URL shows how far it is.
        return Response(HistoryImportSerializer(history_import).data, status=202)
