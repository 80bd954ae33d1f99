"""The history import's state, as the API shows it (POST /api/accounts/<id>/import_history/)."""

from argparse import ArgumentTypeError
from datetime import timedelta

from rest_framework import serializers

from history.models import HistoryImport
from instabot.rest import ModelSerializer
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
