"""Outgoing webhooks in the admin: staff register an endpoint (its secret shown once), see
its last answers, and why it was disabled. Access per account (ScopedAdminMixin)."""

from django.contrib import admin, messages
from django.utils.html import format_html, format_html_join

from accounts.access import ScopedAdminMixin
from outgoing_webhooks.forms import WebhookEndpointForm
from outgoing_webhooks.models import WebhookEndpoint

ANSWERS_SHOWN = 10
# Characters of an answer's body or an error shown in the list.
ANSWER_SHOWN = 200


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ScopedAdminMixin, admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ["url", "account", "is_active", "event_labels", "last_success_at"]
    list_filter = ["is_active", "account"]
    readonly_fields = ["disabled_reason", "failing_since", "last_success_at", "last_answers"]

    class Media:
        css = {"all": ["outgoing_webhooks/endpoint_form.css"]}

    def save_model(self, request, obj, form, change):
        secret = obj.new_secret() if not change else None
        if change and "is_active" in form.changed_data and obj.is_active:
            obj.disabled_reason, obj.failing_since = "", None  # staff turned it on again
        super().save_model(request, obj, form, change)
        if secret:
            self.message_user(
                request,
                format_html(
                    "Its signing secret, shown this once (keep it where the receiver reads "
                    "it): <code id='endpoint-secret' style='word-break: break-all; "
                    "user-select: all'>{}</code>",
                    secret,
                ),
                messages.WARNING,
            )

    @admin.display(description="Last answers")
    def last_answers(self, obj):
        deliveries = obj.deliveries.order_by("-created_at", "-pk")[:ANSWERS_SHOWN]
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    f"{d.created_at:%Y-%m-%d %H:%M:%S}",
                    d.event,
                    d.get_status_display(),
                    # What the endpoint answered: its status and the start of its body.
                    format_html(
                        "<b>{}</b> {}", d.answer_status or "—", d.answer_body[:ANSWER_SHOWN]
                    ),
                    d.last_error[:ANSWER_SHOWN] or "—",
                )
                for d in deliveries
            ),
        )
        if not rows:
            return "None yet."
        return format_html(
            '<div class="last-answers" style="overflow-x: auto; max-width: 100%;"><table>'
            "<tr><th>Event at</th><th>Event</th><th>State</th><th>Answer</th>"
            "<th>Error</th></tr>{}</table></div>",
            rows,
        )
