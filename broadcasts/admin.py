"""Broadcasts in the admin: write one (a draft), see who it reaches now and why not the
others, then Send (now or at its time); while queued, Cancel. Access per account
(ScopedAdminMixin)."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.utils import timezone
from django.utils.html import format_html

from accounts.access import ScopedAdminMixin
from broadcasts import sending
from broadcasts.forms import BroadcastForm
from broadcasts.models import Broadcast
from contacts.filtering import BadFilter


@admin.register(Broadcast)
class BroadcastAdmin(ScopedAdminMixin, admin.ModelAdmin):
    form = BroadcastForm
    list_display = ["name", "account", "status", "send_at", "results"]
    list_filter = ["status", "account"]
    search_fields = ["name"]
    change_form_template = "admin/broadcasts/broadcast/change_form.html"
    readonly_fields = ["results", "status", "created_by", "queued_at", "cancelled_at"]

    def get_fieldsets(self, request, obj=None):
        message = ["account", "name", "text"]
        segment = ["tags", "fields_filter", "source", "last_seen_after", "last_seen_before"]
        if obj is None:
            return [
                (None, {"fields": message}),
                ("Who", {"fields": segment}),
                ("When", {"fields": ["send_at"]}),
            ]
        if obj.is_draft:
            return [
                (None, {"fields": message}),
                ("Who", {"fields": segment}),
                ("When", {"fields": ["send_at"]}),
            ]
        return [
            (None, {"fields": ["account", "name", "text", "status", "send_at"]}),
            ("How it went", {"fields": ["results", "created_by", "queued_at", "cancelled_at"]}),
        ]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and not obj.is_draft:
            return [*self.readonly_fields, "account", "name", "text", "send_at"]
        return self.readonly_fields

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is not None and not obj.is_draft:
            kwargs["form"] = admin.ModelAdmin.form  # nothing left to change
        return super().get_form(request, obj, change, **kwargs)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def reach(self, obj: Broadcast) -> str:
        """Who a draft reaches now and why not the others, atop its page."""
        try:
            figures = sending.reach(obj)
        except BadFilter as exc:
            return f"The segment is not valid: {exc}"
        return format_html(
            "<strong>{} of {} contacts can get it now.</strong><br>"
            "{} not: their 24-hour window is closed (they have not written for a day, or "
            "never wrote, and Instagram forbids promotions then). {} not: they opted out "
            "(said STOP, or staff marked them).<br>"
            "The window is checked again as each DM goes out.",
            figures.reachable,
            figures.contacts,
            figures.window_closed,
            figures.opted_out,
        )

    @admin.display(description="Results")
    def results(self, obj):
        if obj.is_draft:
            return "Not sent yet"
        figures = obj.counts()
        return (
            f"{figures['sent']} sent · {figures['queued']} waiting · {figures['failed']} failed · "
            f"{figures['skipped_for_window']} skipped (window closed) · "
            f"{figures['opted_out']} opted out · {figures['cancelled']} cancelled"
        )

    def render_change_form(self, request, context, add=False, change=False, **kwargs):
        obj = context.get("original")
        if obj is not None:
            context["reach"] = self.reach(obj) if obj.is_draft else self.results(obj)
        context["may_send"] = bool(
            obj and obj.is_draft and self.has_change_permission(request, obj)
        )
        context["may_cancel"] = bool(
            obj
            and obj.status == Broadcast.Status.QUEUED
            and self.has_change_permission(request, obj)
        )
        return super().render_change_form(request, context, add, change, **kwargs)

    def response_change(self, request, obj):
        if "_send" in request.POST or "_cancel_broadcast" in request.POST:
            if not self.has_change_permission(request, obj):
                raise PermissionDenied
            if "_send" in request.POST:
                self._send(request, obj)
            else:
                cancelled = sending.cancel(obj)
                self.message_user(request, f"Cancelled: {cancelled} DMs will not be sent.")
            return HttpResponseRedirect(request.path)
        return super().response_change(request, obj)

    def _send(self, request, obj: Broadcast) -> None:
        if not obj.is_draft:
            self.message_user(request, "It was sent already.", messages.WARNING)
            return
        now = timezone.now()
        send_at = obj.send_at if obj.send_at and obj.send_at > now else now
        queued = sending.queue(obj, send_at)
        if send_at > now:
            self.message_user(
                request, f"Scheduled: {queued} DMs go out at {send_at:%Y-%m-%d %H:%M} UTC."
            )
        else:
            self.message_user(request, f"Sending: {queued} DMs queued, at the account's pace.")
