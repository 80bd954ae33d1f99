import logging

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.access import ScopedViewSetMixin, accounts_visible_to
from accounts.api import CredentialsUnavailable
from accounts.encryption import EncryptionKeyError
from comments.media import account_media, prepare_to_save
from comments.models import Comment, CommentReply, CommentRule, Mention, MentionReply
from instabot.rest import PATH_ID, ModelSerializer, id_param
from meta import graph

logger = logging.getLogger(__name__)

# What a rule's validity depends on.
RULE_FIELDS = (
    "account",
    "keywords",
    "match_type",
    "scope",
    "media_id",
    "private_reply_text",
    "public_replies",
)


class CommentRuleSerializer(ModelSerializer):
    warning = serializers.SerializerMethodField()

    class Meta:
        model = CommentRule
        fields = [
            "id",
            "account",
            "keywords",
            "match_type",
            "scope",
            "media_id",
            "armed_at",
            "private_reply_text",
            "public_replies",
            "priority",
            "is_active",
            "created_at",
            "updated_at",
            "warning",
        ]
        read_only_fields = ["armed_at"]

    def get_warning(self, rule) -> str:
        return getattr(rule, "warning", "")

    def validate(self, data):
        # The model's own rules, with field errors as the admin shows them.
        rule = CommentRule(**{**self._current_values(), **data})
        try:
            rule.clean()
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from None
        return data

    def _current_values(self) -> dict:
        if self.instance is None:
            return {}
        return {name: getattr(self.instance, name) for name in RULE_FIELDS}

    def create(self, validated_data):
        rule = CommentRule(**validated_data)
        rule.warning = prepare_to_save(rule, previous=None)
        rule.save()
        return rule

    def update(self, instance, validated_data):
        previous = CommentRule.objects.get(pk=instance.pk)
        for name, value in validated_data.items():
            setattr(instance, name, value)
        instance.warning = prepare_to_save(instance, previous)
        instance.save()
        return instance


class GraphAPIFailed(exceptions.APIException):
    status_code = 502  # Meta, not the caller, failed the request
    default_detail = "The Graph API failed."


class CommentRuleViewSet(ScopedViewSetMixin, viewsets.ModelViewSet):
    """Comment rules. Filter with ?account=<id> or ?account=none. `media` lists an account's
    posts, to pick a rule's post from."""

    lookup_value_regex = PATH_ID
    queryset = CommentRule.objects.select_related("account")
    serializer_class = CommentRuleSerializer

    def get_queryset(self):
        rules = super().get_queryset()
        if self.request.query_params.get("account") == "none":
            return rules.filter(account__isnull=True)
        if (account := id_param(self.request, "account")) is not None:
            return rules.filter(account_id=account)
        return rules

    @extend_schema(parameters=[OpenApiParameter("account", int, required=True)])
    @action(detail=False)
    def media(self, request):
        """The account's newest posts and reels (id, caption, type, permalink, thumbnail,
        time), from the Graph API."""
        account_id = id_param(request, "account")
        account = accounts_visible_to(request.user).filter(pk=account_id).first()
        if account is None:
            raise exceptions.ValidationError({"account": "Give the id of a stored account."})
        try:
            posts = account_media(account)
        except graph.GraphAPIError as exc:
            raise GraphAPIFailed(f"The Graph API failed: {exc}") from None
        except EncryptionKeyError as exc:
            # 503 (CredentialsUnavailable): its token is stored but FIELD_ENCRYPTION_KEY does
            # not open it; once the operator fixes the key, the same request succeeds.
            logger.error("CREDENTIALS PROBLEM: posts of account %s not listed: %s", account, exc)
            raise CredentialsUnavailable(f"The account's token cannot be opened: {exc}") from None
        return Response([post.__dict__ for post in posts])


class CommentReplySerializer(ModelSerializer):
    class Meta:
        model = CommentReply
        fields = ["kind", "status", "text", "attempts", "last_error", "due_at", "sent_at"]


class CommentSerializer(ModelSerializer):
    replies = CommentReplySerializer(many=True, read_only=True)

    class Meta:
        model = Comment
        fields = [
            "id",
            "comment_id",
            "instagram_account_id",
            "account",
            "media_id",
            "media_product_type",
            "is_live",
            "parent_id",
            "author_id",
            "author_username",
            "text",
            "commented_at",
            "ad_id",
            "status",
            "status_reason",
            "rule",
            "conversation",
            "replies",
        ]


class CommentViewSet(ScopedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """Comments received, with their status and replies. Filter with ?account=<id>,
    ?status=<status>, ?media=<post id>."""

    lookup_value_regex = PATH_ID
    queryset = Comment.objects.prefetch_related("replies")
    serializer_class = CommentSerializer

    def get_queryset(self):
        comments = super().get_queryset()
        if (account := id_param(self.request, "account")) is not None:
            comments = comments.filter(account_id=account)
        if status := self.request.query_params.get("status"):
            if status not in Comment.Status.values:
                raise exceptions.ValidationError({"status": f"One of {Comment.Status.values}."})
            comments = comments.filter(status=status)
        if media := self.request.query_params.get("media"):
            comments = comments.filter(media_id=media)
        return comments


class MentionReplySerializer(ModelSerializer):
    class Meta:
        model = MentionReply
        fields = ["status", "rule", "text", "attempts", "last_error", "external_id", "sent_at"]


class MentionSerializer(ModelSerializer):
    # Null: recorded only (no mention rule was active when it came).
    reply = MentionReplySerializer(read_only=True, allow_null=True)

    class Meta:
        model = Mention
        fields = [
            "id",
            "instagram_account_id",
            "account",
            "media_id",
            "comment_id",
            "mentioned_at",
            "author_username",
            "text",
            "permalink",
            "reply",
        ]


class MentionViewSet(ScopedViewSetMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Where the accounts were @mentioned, what the mention said (read to answer it) and the
    public reply a mention rule gave. Filter with ?account=<id>, ?media=<media id>."""

    lookup_value_regex = PATH_ID
    queryset = Mention.objects.select_related("reply")
    serializer_class = MentionSerializer

    def get_queryset(self):
        mentions = super().get_queryset()
        if (account := id_param(self.request, "account")) is not None:
            mentions = mentions.filter(account_id=account)
        if media := self.request.query_params.get("media"):
            mentions = mentions.filter(media_id=media)
        return mentions
