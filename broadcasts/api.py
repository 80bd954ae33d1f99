"""/api/broadcasts/: write a draft, read who it reaches now (`reach`), send it (now or at
`send_at`), cancel it, and read how it went (`counts`)."""

import logging

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.access import ScopedViewSetMixin
from broadcasts import sending
from broadcasts.models import Broadcast
from contacts.filtering import BadFilter
from contacts.values import check_text
from instabot.rest import PATH_ID, ModelSerializer, require_permission

logger = logging.getLogger(__name__)


class BroadcastSerializer(ModelSerializer):
    segment = serializers.CharField(
        max_length=2_000,
        allow_blank=True,
        required=False,
        help_text="The contacts' filters, as /api/contacts/ reads them: "
        "tag=vip&field=city:Paris&source=ad&last_seen_after=2026-12-01 (empty: every contact).",
    )
    counts = serializers.SerializerMethodField(help_text="How its DMs went (once queued).")
    reach = serializers.SerializerMethodField(
        help_text="A draft: who can get it now, and why the others cannot."
    )

    class Meta:
        model = Broadcast
        fields = [
            "id",
            "account",
            "name",
            "text",
            "segment",
            "send_at",
            "status",
            "reach",
            "counts",
            "created_at",
            "queued_at",
            "cancelled_at",
        ]
        read_only_fields = ["status", "created_at", "queued_at", "cancelled_at"]

    def validate_text(self, text):
        try:
            text = check_text(text, "The message", 2_000)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None
        if not text:
            raise serializers.ValidationError("A broadcast needs a message.")
        return text

    def validate_segment(self, segment):
        try:
            check_text(segment, "The segment", 2_000)
            sending.parse_segment(segment)
        except (BadFilter, DjangoValidationError) as exc:
            raise serializers.ValidationError(str(exc)) from None
        return segment

    def validate(self, attrs):
        if self.instance is not None and not self.instance.is_draft:
            raise serializers.ValidationError("Only a draft changes: this one was sent.")
        return attrs

    def get_counts(self, broadcast) -> dict | None:
        return None if broadcast.is_draft else broadcast.counts()

    def get_reach(self, broadcast) -> dict | None:
        if not broadcast.is_draft:
            return None
        figures = sending.reach(broadcast)
        return {
            "contacts": figures.contacts,
            "reachable_now": figures.reachable,
            "window_closed": figures.window_closed,
            "opted_out": figures.opted_out,
        }


class AlreadySent(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "already_sent"


class SendSerializer(serializers.Serializer):
    send_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Later: scheduled. Empty or past: now."
    )


class BroadcastViewSet(ScopedViewSetMixin, viewsets.ModelViewSet):
    """Broadcasts of an account: one message to a segment of its contacts, sent only to those
    whose 24-hour window is open when their DM goes (Meta's rule), never to opted-out ones."""

    lookup_value_regex = PATH_ID
    queryset = Broadcast.objects.select_related("account")
    serializer_class = BroadcastSerializer

    def perform_create(self, serializer):
        super().perform_create(serializer)
        serializer.instance.created_by = self.request.user
        serializer.instance.save(update_fields=["created_by"])

    def perform_destroy(self, instance):
        if not instance.is_draft:
            # 409: what was queued is counted and kept; cancel it instead.
            raise AlreadySent("Only a draft is deleted: cancel this one instead.")
        super().perform_destroy(instance)

    @extend_schema(request=SendSerializer, responses=BroadcastSerializer)
    @action(detail=True, methods=["post"])
    def send(self, request, pk=None):
        """Queue a draft's DMs: now, or at `send_at` (given here or on the draft)."""
        require_permission(request, "broadcasts.change_broadcast")
        broadcast = self.get_object()
        given = SendSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        if not broadcast.is_draft:
            # 409: it was queued (or cancelled) already; sending twice would duplicate it.
            raise AlreadySent("It was sent already.")
        send_at = given.validated_data.get("send_at") or broadcast.send_at
        sending.queue(broadcast, send_at if send_at and send_at > timezone.now() else None)
        broadcast.refresh_from_db()
        return Response(self.get_serializer(broadcast).data)

    @extend_schema(request=None, responses=BroadcastSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel what has not gone yet."""
        require_permission(request, "broadcasts.change_broadcast")
        broadcast = self.get_object()
        if broadcast.status != Broadcast.Status.QUEUED:
            # 409: a draft is deleted, a cancelled one stays cancelled.
            raise AlreadySent("Only a queued broadcast is cancelled.")
        sending.cancel(broadcast)
        return Response(self.get_serializer(broadcast).data)
