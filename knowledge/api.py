from django.http import HttpResponse
from rest_framework import exceptions, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.access import ScopedViewSetMixin
from instabot.rest import PATH_ID, ModelSerializer, id_param, require_permission
from knowledge import judging
from knowledge.models import ANSWER_FIELDS, EDITABLE_FIELDS, KnowledgeAnswer, KnowledgeEntry
from knowledge.transfer import MAX_IMPORT_BYTES, ImportRefused, export_csv, import_csv
from rules.api import run_model_clean


class KnowledgeEntrySerializer(ModelSerializer):
    class Meta:
        model = KnowledgeEntry
        fields = ["id", *EDITABLE_FIELDS, "created_at", "updated_at"]

    def validate(self, attrs):
        # The entry as it would be saved, for the checks across its fields (answer + link).
        candidate = KnowledgeEntry(
            **{
                name: attrs.get(name, getattr(self.instance, name, ""))
                for name in ("title", "questions", "answer", "link")
            }
        )
        run_model_clean(candidate)
        return attrs


class ImportSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="A CSV file: id, title, questions, answer, link, account, active."
    )


class KnowledgeEntryViewSet(ScopedViewSetMixin, viewsets.ModelViewSet):
    """What the business knows: entries answered from when no rule answers. Filter with
    ?account=<id> (entries of that account) or ?account=none (shared by every account)."""

    lookup_value_regex = PATH_ID
    queryset = KnowledgeEntry.objects.select_related("account")
    serializer_class = KnowledgeEntrySerializer

    def get_queryset(self):
        entries = super().get_queryset()
        if self.request.query_params.get("account") == "none":
            return entries.filter(account__isnull=True)
        if (account := id_param(self.request, "account")) is not None:
            return entries.filter(account_id=account)
        return entries

    @action(detail=False, methods=["get"])
    def export(self, request):
        """The entries (as filtered) as CSV, the columns the import reads."""
        response = HttpResponse(export_csv(self.get_queryset()), content_type="text/csv")
        response["Content-Disposition"] = 'attachment; filename="knowledge.csv"'
        return response

    @action(detail=False, methods=["post"], url_path="import", serializer_class=ImportSerializer)
    def import_entries(self, request):
        """Create (no id) or update (an id) entries from a CSV file, all or none. Needs the
        add and change permissions."""
        for permission in ("knowledge.add_knowledgeentry", "knowledge.change_knowledgeentry"):
            if not request.user.has_perm(permission):
                raise exceptions.PermissionDenied(f"You need the {permission} permission.")
        upload = ImportSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        try:
            done = import_csv(
                upload.validated_data["file"].read(MAX_IMPORT_BYTES + 1), request.user
            )
        except ImportRefused as refused:
            # Nothing was imported: the file's problems, by row.
            return Response({"problems": refused.problems}, status=status.HTTP_400_BAD_REQUEST)
        return Response({"created": done.created, "updated": done.updated})


class KnowledgeAnswerSerializer(ModelSerializer):
    class Meta:
        model = KnowledgeAnswer
        fields = ["id", *ANSWER_FIELDS, "created_at"]


class VerdictSerializer(serializers.Serializer):
    verdict = serializers.ChoiceField(choices=list(judging.VERDICTS))


class KnowledgeAnswerViewSet(ScopedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """What knowledge did with each customer message it was asked: answered from knowledge,
    by the assistant, or handed to a person; with the entries, model, tokens and time. Filter
    with ?conversation=<id>, ?kind=faq|assistant|handoff, ?verdict=wrong."""

    lookup_value_regex = PATH_ID
    account_path = "conversation__account"
    queryset = KnowledgeAnswer.objects.all()
    serializer_class = KnowledgeAnswerSerializer

    def get_queryset(self):
        answers = super().get_queryset()
        if (conversation := id_param(self.request, "conversation")) is not None:
            answers = answers.filter(conversation_id=conversation)
        for name, choices in (("kind", KnowledgeAnswer.Kind), ("verdict", KnowledgeAnswer.Verdict)):
            if (value := self.request.query_params.get(name)) is not None:
                if value not in choices.values:
                    raise exceptions.ValidationError({name: f"One of {', '.join(choices.values)}."})
                answers = answers.filter(**{name: value})
        return answers

    # Judging changes the conversation: it needs change_conversation, as the inbox's commands.
    @action(
        detail=True,
        methods=["post"],
        permission_classes=[permissions.IsAdminUser],
        serializer_class=VerdictSerializer,
    )
    def judge(self, request, pk=None):
        """Mark an answer good or wrong; wrong puts its conversation under Needs a reply."""
        require_permission(request, "messaging.change_conversation")
        answer = self.get_object()
        body = VerdictSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            judged = judging.judge(
                answer.conversation, str(answer.pk), body.validated_data["verdict"], request.user
            )
        except judging.NotJudged as exc:
            # A hand-off sent nothing to judge.
            raise exceptions.ValidationError({"verdict": [str(exc)]}) from None
        return Response(KnowledgeAnswerSerializer(judged).data)
