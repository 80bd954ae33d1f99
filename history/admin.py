from django.contrib import admin
from django.utils import timezone

from accounts.access import ScopedAdminMixin
from accounts.admin import InstagramBusinessAccountAdmin
from history.importing import request_import
from history.models import AccountReconciliation, HistoryImport


@admin.action(description="Import message history (Conversations API)", permissions=["change"])
def import_history(modeladmin, request, queryset):
    for account in queryset:
        request_import(account)
        modeladmin.message_user(
            request, f"{account}: history import queued; see History imports for progress."
        )


# An action on the accounts' list, added here: accounts does not import the apps above it.
InstagramBusinessAccountAdmin.actions = [*InstagramBusinessAccountAdmin.actions, import_history]


class ReadOnlyAdmin(ScopedAdminMixin, admin.ModelAdmin):
    """Written by the workers; staff watch it."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(HistoryImport)
class HistoryImportAdmin(ReadOnlyAdmin):
    # One row per account: no filters, the room goes to the counts.
    list_display = [
        "account",
        "state",
        "conversations_done",
        "messages_imported",
        "messages_known",
        "api_calls",
        "last_progress",
        "finished_at",
        "error",
    ]
    readonly_fields = [field.name for field in HistoryImport._meta.fields]

    @admin.display(description="last progress", ordering="progress_at")
    def last_progress(self, history_import):
        return _ago(history_import.progress_at)


@admin.register(AccountReconciliation)
class AccountReconciliationAdmin(ReadOnlyAdmin):
    list_display = [
        "account",
        "subscription",
        "last_reconciled",
        "found_missing",
        "last_api_calls",
        "last_error",
    ]
    readonly_fields = [field.name for field in AccountReconciliation._meta.fields]

    @admin.display(description="last reconciled", ordering="last_reconciled_at")
    def last_reconciled(self, state):
        return _ago(state.last_reconciled_at)

    @admin.display(description="found missing", ordering="last_found")
    def found_missing(self, state):
        return f"{state.last_found} (last pass) · {state.total_found} in all"

    @admin.display(description="webhook subscription")
    def subscription(self, state):
        # Customer messages arrive only through reconciliation: see docs/history.md.
        if state.subscription_suspect_since:
            return f"PROBABLY BROKEN since {state.subscription_suspect_since:%Y-%m-%d %H:%M} UTC"
        return "ok"


def _ago(moment) -> str:
    if moment is None:
        return "never"
    seconds = (timezone.now() - moment).total_seconds()
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    return f"{moment:%Y-%m-%d %H:%M} UTC"
