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


# ?rows=: whether the answer has `rows`, one per account and day (the default, as before
# `per_day` and `per_account` existed), or not (none: the dashboard's own shape, a few hundred
# rows at most whatever the accounts).
ROWS = ("account_day", "none")


class StatsView(APIView):
    """The dashboard's figures for the user's accounts: `per_day` (a row a day, the accounts
    added up), `per_account` (a row an account, the range added up) and, unless ?rows=none,
    `rows` (a row per account and day)."""

    permission_classes = [IsAdminUser]

    @extend_schema(
        parameters=[
            OpenApiParameter("days", int, description=f"1 to {stats.MAX_DAYS}, ending today"),
            OpenApiParameter("account", int, description="A stored account's id"),
            OpenApiParameter(
                "rows",
                str,
                enum=ROWS,
                description="account_day (default): `rows` too, one per account and day; "
                "none: `per_day` and `per_account` only",
            ),
        ],
        responses=dict,
    )
    def get(self, request):
        require_permission(request, "messaging.view_message")
        try:
            stats_range = stats.StatsRange.from_query(request.query_params)
        except stats.BadRange as exc:
            raise exceptions.ValidationError({"detail": str(exc)}) from None
        rows = request.query_params.get("rows") or ROWS[0]
        if rows not in ROWS:
            raise exceptions.ValidationError({"detail": f"rows must be one of {', '.join(ROWS)}"})
        figures = stats.figures(request.user, stats_range, account_days=rows == "account_day")
        return Response(figures)
