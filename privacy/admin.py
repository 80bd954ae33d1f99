from django.contrib import admin

from accounts.access import sees_all_accounts
from privacy.models import DataDeletionRequest


@admin.register(DataDeletionRequest)
class DataDeletionRequestAdmin(admin.ModelAdmin):
    """What Meta's data deletion callbacks asked for and what the worker erased: a record,
    never edited."""

    list_display = ["confirmation_code", "login", "state", "requested_at", "completed_at"]
    list_filter = ["state", "login"]
    search_fields = ["confirmation_code"]
    readonly_fields = [
        "confirmation_code",
        "login",
        "app_scoped_user_id",
        "issued_at",
        "requested_at",
        "state",
        "completed_at",
        "erased",
    ]

    def has_module_permission(self, request):
        return sees_all_accounts(request.user) and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return sees_all_accounts(request.user) and super().has_view_permission(request, obj)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
