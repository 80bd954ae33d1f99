"""/api/saved-replies/ and /api/stats/: the inbox's snippets and the dashboard's figures."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, viewsets
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.access import ScopedViewSetMixin
from inbox import stats
from inbox.models import SavedReply
from instabot.rest import PATH_ID, ModelSerializer, require_permission


class SavedReplySerializer(ModelSerializer):
    class Meta:
        model = SavedReply
        fields = ["id", "shortcut", "text", "account", "created_at", "updated_at"]


class SavedReplyViewSet(ScopedViewSetMixin, viewsets.ModelViewSet):
    """Saved replies (snippets staff insert by /shortcut), per account or shared (no account)."""

    lookup_value_regex = PATH_ID
    queryset = SavedReply.objects.all()
    serializer_class = SavedReplySerializer


class StatsView(APIView):
    """The dashboard's figures per account and day, for the user's accounts."""

    permission_classes = [IsAdminUser]

    @extend_schema(
        parameters=[
            OpenApiParameter("days", int, description=f"1 to {stats.MAX_DAYS}, ending today"),
            OpenApiParameter("account", int, description="A stored account's id"),
        ],
        responses=dict,
    )
    def get(self, request):
        require_permission(request, "messaging.view_message")
        try:
            stats_range = stats.StatsRange.from_query(request.query_params)
        except stats.BadRange as exc:
            raise exceptions.ValidationError({"detail": str(exc)}) from None
        return Response(stats.figures(request.user, stats_range))
