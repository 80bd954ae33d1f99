"""/api/contacts/ (list, filter, read, change tags/fields/notes/opt-out; CSV export and import)
and /api/contact-fields/ (the custom fields staff define per account)."""

import logging

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FileUploadParser, MultiPartParser
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response

from accounts.access import ScopedViewSetMixin
from contacts import csv_files, editing
from contacts.filtering import BadFilter, Segment
from contacts.models import Contact, ContactField
from instabot.rest import PATH_ID, ModelSerializer, require_permission
from rules.api import run_model_clean

logger = logging.getLogger(__name__)


class ContactSerializer(ModelSerializer):
    id = serializers.IntegerField(source="pk", read_only=True, help_text="Its conversation's id.")
    account = serializers.IntegerField(source="conversation.account_id", read_only=True)
    customer_id = serializers.CharField(source="conversation.customer_id", read_only=True)
    username = serializers.CharField(source="conversation.customer_username", read_only=True)
    opted_out = serializers.BooleanField(required=False)
    tags = serializers.ListField(
        child=serializers.CharField(max_length=64, trim_whitespace=True),
        required=False,
        write_only=True,
        max_length=editing.MAX_TAGS,
        help_text="Tag names; given on an update, they replace the contact's tags.",
    )
    fields = serializers.DictField(
        child=serializers.CharField(allow_blank=True, allow_null=True, max_length=1_000),
        required=False,
        write_only=True,
        help_text='Field key -> value; given on an update, each value is set ("" or null '
        "clears it); fields not named are left as they are.",
    )

    class Meta:
        model = Contact
        fields = [
            "id",
            "account",
            "customer_id",
            "username",
            "name",
            "source",
            "source_ref",
            "first_seen_at",
            "last_seen_at",
            "opted_out",
            "tags",
            "fields",
            "notes",
        ]
        read_only_fields = [
            "name",
            "source",
            "source_ref",
            "first_seen_at",
            "last_seen_at",
        ]

    def to_representation(self, contact):
        data = super().to_representation(contact)
        data["tags"] = sorted(tag.name for tag in contact.tags.all())
        data["fields"] = {value.field.key: value.value for value in contact.values.all()}
        return data

    def update(self, contact, validated_data):
        try:
            change = editing.check_change(
                contact,
                tags=validated_data.get("tags"),
                values=validated_data.get("fields"),
                notes=validated_data.get("notes"),
                opted_out=validated_data.get("opted_out"),
            )
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from None
        editing.apply_change(contact, change)
        return contact


SEGMENT_PARAMETERS = [
    OpenApiParameter("tag", str, many=True, description="Has this tag (repeat: every one)"),
    OpenApiParameter("field", str, many=True, description="key:value, or key (any value)"),
    OpenApiParameter("source", str, enum=Contact.Source.values),
    OpenApiParameter("last_seen_after", str, description="A date or an ISO time"),
    OpenApiParameter("last_seen_before", str, description="A date or an ISO time"),
    OpenApiParameter("account", int),
    OpenApiParameter("opted_out", bool),
]


@extend_schema(parameters=SEGMENT_PARAMETERS)
class ContactViewSet(
    ScopedViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Contacts, newest seen first. A contact begins with the customer's first message."""

    account_path = "conversation__account"
    lookup_value_regex = PATH_ID
    queryset = Contact.objects.select_related("conversation").prefetch_related(
        "tags", "values__field"
    )
    serializer_class = ContactSerializer

    def get_queryset(self):
        contacts = super().get_queryset()
        if self.action not in ("list", "export"):
            return contacts
        try:
            return Segment.from_query(self.request.query_params).apply(contacts)
        except BadFilter as exc:
            raise exceptions.ValidationError({"detail": str(exc)}) from None

    @extend_schema(responses={(200, "text/csv"): str})
    @action(detail=False, methods=["get"])
    def export(self, request):
        """The contacts the filters find, as CSV."""
        rows = csv_files.export_rows(self.get_queryset())
        response = StreamingHttpResponse(
            csv_files.export_text(rows), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = 'attachment; filename="contacts.csv"'
        return response

    @extend_schema(request={"text/csv": str, "multipart/form-data": dict}, responses=dict)
    @action(
        detail=False,
        methods=["post"],
        url_path="import",
        parser_classes=[MultiPartParser, FileUploadParser],
        # It changes contacts (checked below), not adds them as a POST's model permission says.
        permission_classes=[IsAdminUser],
    )
    def import_csv(self, request):
        """Update contacts from a CSV file (as exported); the report lists skipped rows."""
        require_permission(request, "contacts.change_contact")
        upload = request.data.get("file")
        if upload is None:
            raise exceptions.ValidationError({"file": ["Send the CSV file as `file`."]})
        if upload.size > csv_files.IMPORT_MAX_BYTES:
            raise exceptions.ValidationError({"file": ["At most 5 MB a file."]})
        try:
            report = csv_files.import_file(upload.read(), super().get_queryset())
        except csv_files.BadFile as exc:
            logger.info("Contacts import refused: %s", exc)
            raise exceptions.ValidationError({"file": [str(exc)]}) from None
        logger.info("Contacts import: %d updated, %d skipped", report.updated, len(report.skipped))
        # 200: applied row by row; skipped rows are listed with their problems.
        return Response(report.as_json(), status=status.HTTP_200_OK)


class ContactFieldSerializer(ModelSerializer):
    class Meta:
        model = ContactField
        fields = ["id", "account", "key", "label", "kind", "choices"]

    def validate(self, attrs):
        candidate = ContactField(**{**self._current(), **attrs})
        run_model_clean(candidate)
        return attrs

    def _current(self) -> dict:
        if self.instance is None:
            return {}
        return {name: getattr(self.instance, name) for name in ("kind", "choices", "key")}


class ContactFieldViewSet(ScopedViewSetMixin, viewsets.ModelViewSet):
    """Custom fields of contacts, per account (no account: every account's)."""

    lookup_value_regex = PATH_ID
    queryset = ContactField.objects.all()
    serializer_class = ContactFieldSerializer
