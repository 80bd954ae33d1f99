"""/api/: each app's endpoints, the OpenAPI schema and its docs page."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import IsAdminUser
from rest_framework.routers import DefaultRouter

from accounts.api import AccountViewSet
from broadcasts.api import BroadcastViewSet
from comments.api import CommentRuleViewSet, CommentViewSet, MentionViewSet
from contacts.api import ContactFieldViewSet, ContactViewSet
from contacts.flow_api import ReplyVariantViewSet, RuleActionViewSet
from history.api import AccountHistoryImportViewSet
from inbox.api import SavedReplyViewSet, StatsView
from knowledge.api import KnowledgeAnswerViewSet, KnowledgeEntryViewSet
from messaging.api import ConversationViewSet, MessageViewSet
from outgoing_webhooks.api import WebhookEndpointViewSet
from privacy import api as privacy_api
from rules.api import ResponseRuleViewSet

router = DefaultRouter()
router.register("accounts", AccountViewSet)
# /api/accounts/<id>/import_history/: the history app's, beside the account's own endpoints.
router.register("accounts", AccountHistoryImportViewSet, basename="account-history")
router.register("conversations", ConversationViewSet)
router.register("messages", MessageViewSet)
router.register("rules", ResponseRuleViewSet)
router.register("comment-rules", CommentRuleViewSet)
router.register("comments", CommentViewSet)
router.register("mentions", MentionViewSet)
router.register("saved-replies", SavedReplyViewSet)
router.register("contacts", ContactViewSet)
router.register("contact-fields", ContactFieldViewSet)
router.register("rule-actions", RuleActionViewSet)
router.register("reply-variants", ReplyVariantViewSet)
router.register("broadcasts", BroadcastViewSet)
router.register("webhooks", WebhookEndpointViewSet)
router.register("knowledge", KnowledgeEntryViewSet)
router.register("knowledge-answers", KnowledgeAnswerViewSet)

# The schema describes the API, not its data: any staff member may read it.
staff_only = {"permission_classes": [IsAdminUser]}

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(**staff_only), name="api-schema"),
    path(
        "docs/",
        SpectacularSwaggerView.as_view(url_name="api-schema", **staff_only),
        name="api-docs",
    ),
    path("stats/", StatsView.as_view(), name="api-stats"),
    path("customers/<int:pk>/export", privacy_api.export_customer, name="api-customer-export"),
    path("customers/<int:pk>/erase", privacy_api.erase_customer, name="api-customer-erase"),
    path("", include(router.urls)),
]
