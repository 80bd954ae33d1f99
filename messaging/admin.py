from django.contrib import admin

from messaging.models import Conversation, Message, WebhookDelivery


class ReadOnlyAdmin(admin.ModelAdmin):
    """What Instagram told us is a record, not something to edit by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["id", "received_at", "state", "processed_at"]
    list_filter = ["state"]
    date_hierarchy = "received_at"
    fields = ["received_at", "state", "processed_at", "error", "headers", "body_text"]
    readonly_fields = fields

    @admin.display(description="body")
    def body_text(self, delivery):
        return bytes(delivery.body).decode(errors="replace")


class MessageInline(admin.TabularInline):
    model = Message
    fk_name = "conversation"
    fields = [
        "created_at",
        "direction",
        "author",
        "text",
        "status",
        "attempts",
        "last_error",
        "mid",
    ]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["created_at", "id"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyAdmin):
    list_display = ["customer_id", "instagram_account_id", "last_message_at", "created_at"]
    search_fields = ["customer_id", "instagram_account_id"]
    inlines = [MessageInline]


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "conversation",
        "direction",
        "author",
        "short_text",
        "status",
        "attempts",
    ]
    list_filter = ["direction", "author", "status"]
    search_fields = ["text", "mid", "conversation__customer_id"]
    list_select_related = ["conversation"]

    @admin.display(description="text")
    def short_text(self, message):
        return message.text[:80]
