import logging

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.access import ScopedViewSetMixin
from instabot.rest import (
    PATH_ID,
    KeysetPagination,
    ModelSerializer,
    id_param,
    require_permission,
)
from instabot.text_limits import REPLY_MAX_LENGTH
from messaging import replies
from messaging.models import Conversation, Message

logger = logging.getLogger(__name__)


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The conversation's state does not allow this now."
    default_code = "conflict"


class MessageSerializer(ModelSerializer):
    sent_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Message
        fields = [
            "id",
            "conversation",
            "direction",
            "author",
            "mid",
            "text",
            "attachments",
            "details",
            "content",
            "human_agent",
            "timestamp",
            "is_deleted",
            "edit_count",
            "reaction",
            "read_at",
            "status",
            "attempts",
            "last_error",
            "part",
            "rule",
            "is_fallback",
            "sent_by",
            "created_at",
        ]
        read_only_fields = fields


class ConversationSerializer(ModelSerializer):
    bot_silence = serializers.SerializerMethodField(
        help_text="Why the bot is silent here now: paused (by staff, until resumed), "
        "taken_over (staff answered; until bot_paused_until), or null: it answers."
    )

    class Meta:
        model = Conversation
        fields = [
            "id",
            "account",
            "instagram_account_id",
            "customer_id",
            "customer_username",
            "status",
            "last_message_at",
            "bot_silence",
            "bot_paused_at",
            "bot_paused_until",
            "created_at",
        ]
        read_only_fields = fields

    def get_bot_silence(self, conversation) -> str | None:
        silence = conversation.bot_silence()
        return silence.value if silence else None


class ReplySerializer(serializers.Serializer):
    text = serializers.CharField(trim_whitespace=True, max_length=REPLY_MAX_LENGTH)


FILTERS = [
    OpenApiParameter("account", int, description="A stored account's id"),
    OpenApiParameter("status", str),
]


class ActivityPagination(KeysetPagination):
    """Conversations by position in their order, newest activity first (the conversation_activity
    and conversation_account_activity indexes): no COUNT of every conversation, no OFFSET. A
    conversation whose activity moves while pages are read moves to the front: it is not
    listed twice, and the others are neither repeated nor skipped."""

    ordering = ("-last_message_at", "-id")


@extend_schema(parameters=FILTERS)
class ConversationViewSet(ScopedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """Conversations, newest activity first. Filter with ?account=<id> and ?status=."""

    lookup_value_regex = PATH_ID
    queryset = Conversation.objects.select_related("account")
    serializer_class = ConversationSerializer
    # By position (keyset): sorting and counting every conversation was the cost of a page.
    pagination_class = ActivityPagination

    def get_queryset(self):
        conversations = super().get_queryset()
        if (account := id_param(self.request, "account")) is not None:
            conversations = conversations.filter(account_id=account)
        if status_filter := self.request.query_params.get("status"):
            conversations = conversations.filter(status=status_filter)
        return conversations

    @extend_schema(parameters=[], responses=MessageSerializer(many=True))
    @action(detail=True, methods=["get"])
    def messages(self, request, pk=None):
        """The thread, oldest first."""
        require_permission(request, "messaging.view_message")
        conversation = self.get_object()
        thread = conversation.messages.select_related("sent_by")
        # By position, oldest first: a long thread's pages cost what its first one does.
        paginator = KeysetPagination(ordering=("created_at", "id"))
        page = paginator.paginate_queryset(thread, request, view=self)
        return paginator.get_paginated_response(MessageSerializer(page, many=True).data)

    # The POST actions below need the permission they name (change_conversation), not the
    # "add" permission a POST means to the default permission class: only staff, then theirs.
    @extend_schema(parameters=[], request=ReplySerializer, responses=MessageSerializer(many=True))
    @action(detail=True, methods=["post"], permission_classes=[permissions.IsAdminUser])
    def reply(self, request, pk=None):
        """Send a reply as staff, through the same queue as the bot (which then steps back)."""
        # Answering changes the conversation: viewing it is not enough.
        require_permission(request, "messaging.change_conversation")
        conversation = self.get_object()
        form = ReplySerializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            parts = replies.send_staff_reply(
                conversation, form.validated_data["text"], request.user
            )
        except replies.ReplyRefused as exc:
            # 409: the conversation's state (Instagram's reply window) refuses it, not the body.
            logger.info("Reply to conversation %s refused: %s", conversation.pk, exc)
            raise Conflict(str(exc)) from None
        data = MessageSerializer(parts, many=True).data
        return Response(data, status=status.HTTP_201_CREATED)

    @extend_schema(parameters=[], request=None, responses=ConversationSerializer)
    @action(detail=True, methods=["post"], permission_classes=[permissions.IsAdminUser])
    def pause(self, request, pk=None):
        """Keep the bot silent here until resumed; its replies still queued are cancelled."""
        require_permission(request, "messaging.change_conversation")
        conversation = self.get_object()
        replies.pause_bot(conversation)
        return Response(ConversationSerializer(conversation).data)

    @extend_schema(parameters=[], request=None, responses=ConversationSerializer)
    @action(detail=True, methods=["post"], permission_classes=[permissions.IsAdminUser])
    def resume(self, request, pk=None):
        """Let the bot answer here again: ends a pause and a staff takeover alike."""
        require_permission(request, "messaging.change_conversation")
        conversation = self.get_object()
        replies.resume_bot(conversation)
        return Response(ConversationSerializer(conversation).data)


@extend_schema(
    parameters=[
        OpenApiParameter("account", int, description="A stored account's id"),
        OpenApiParameter("conversation", int),
        OpenApiParameter("direction", str),
        OpenApiParameter("status", str),
    ]
)
class MessageViewSet(ScopedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """Every message, newest first. Filter with ?account=, ?conversation=, ?direction=, ?status=."""

    account_path = "conversation__account"

    lookup_value_regex = PATH_ID
    queryset = Message.objects.select_related("sent_by").order_by("-created_at", "-id")
    serializer_class = MessageSerializer
    # By position (keyset): counting a million messages was the cost of every page.
    pagination_class = KeysetPagination

    def get_queryset(self):
        messages = super().get_queryset()
        if (account := id_param(self.request, "account")) is not None:
            messages = messages.filter(conversation__account_id=account)
        if (conversation := id_param(self.request, "conversation")) is not None:
            messages = messages.filter(conversation_id=conversation)
        for name in ("direction", "status"):
            if value := self.request.query_params.get(name):
                messages = messages.filter(**{name: value})
        return messages
