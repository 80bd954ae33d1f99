from django.contrib import admin

from accounts.access import ScopedAdminMixin
from inbox.models import SavedReply
from instabot.admin_forms import ASCII_NUMBERS


@admin.register(SavedReply)
class SavedReplyAdmin(ScopedAdminMixin, admin.ModelAdmin):
    """Snippets the inbox offers when staff type /shortcut; per account or shared."""

    formfield_overrides = ASCII_NUMBERS
    list_display = ["shortcut", "short_text", "account", "updated_at"]
    list_filter = ["account"]
    search_fields = ["shortcut", "text"]
    list_select_related = ["account"]
    fields = ["shortcut", "text", "account"]

    @admin.display(description="text")
    def short_text(self, saved_reply):
        return saved_reply.text[:80]
