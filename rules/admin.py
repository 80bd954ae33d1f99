from django import forms
from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.formats import date_format

from accounts.access import ScopedAdminMixin, accounts_visible_to
from accounts.models import InstagramBusinessAccount
from rules.matching import choose_reply
from rules.models import ResponseRule


class TryMessageForm(forms.Form):
    text = forms.CharField(label="Message", widget=forms.Textarea(attrs={"rows": 2, "cols": 60}))
    account = forms.ModelChoiceField(
        InstagramBusinessAccount.objects.all(),
        required=False,
        empty_label="Any account (rules for every account only)",
    )


@admin.register(ResponseRule)
class ResponseRuleAdmin(ScopedAdminMixin, admin.ModelAdmin):
    list_display = [
        "keywords",
        "match_type",
        "short_response",
        "account",
        "priority",
        "is_active",
        "updated",
    ]
    list_editable = ["priority", "is_active"]
    list_filter = ["account", "is_active", "match_type"]
    search_fields = ["keywords", "response_text"]
    list_select_related = ["account"]
    fields = ["keywords", "match_type", "response_text", "account", "priority", "is_active"]

    @admin.display(description="updated", ordering="updated_at")
    def updated(self, rule):
        # Short: the list must fit beside its filters on a laptop.
        return date_format(timezone.localtime(rule.updated_at), "Y-m-d H:i")

    @admin.display(description="reply")
    def short_response(self, rule):
        return rule.response_text[:80]

    def get_urls(self):
        try_url = path(
            "try/", self.admin_site.admin_view(self.try_message_view), name="rules_responserule_try"
        )
        return [try_url, *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "try_form": TryMessageForm()}
        return super().changelist_view(request, extra_context)

    def try_message_view(self, request):
        """Which rule would answer a message, and with what: without sending anything."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = TryMessageForm(request.GET or None)
        form.fields["account"].queryset = accounts_visible_to(request.user)
        outcome = None
        if form.is_valid():
            # The same question the bot asks of the next message.
            reply = choose_reply(form.cleaned_data["account"], form.cleaned_data["text"])
            rule = ResponseRule.objects.filter(pk=reply.rule.id).first() if reply.rule else None
            outcome = {"rule": rule, "reply": reply.text}
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Try a message",
            "form": form,
            "outcome": outcome,
            "cooldown_hours": settings.FALLBACK_COOLDOWN_HOURS,
        }
        return TemplateResponse(request, "admin/rules/responserule/try_message.html", context)
