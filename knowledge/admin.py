from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path

from accounts.access import ScopedAdminMixin
from instabot.admin_forms import ASCII_NUMBERS
from knowledge.models import ANSWER_FIELDS, KnowledgeAnswer, KnowledgeEntry, KnowledgeSettings
from knowledge.transfer import MAX_IMPORT_BYTES, ImportRefused, export_csv, import_csv


class AsciiFloatField(forms.FloatField):
    """float() reads Arabic-Indic digits as numbers: a number typed so is refused."""

    def to_python(self, value):
        if isinstance(value, str) and not value.strip().isascii():
            raise forms.ValidationError("Enter a number in the digits 0-9.", code="invalid")
        return super().to_python(value)


class ImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="Columns: id (empty: a new entry), title, questions (one a line), answer, "
        "link, account (an id; empty: every account), active (yes/no). All rows or none.",
    )


@admin.register(KnowledgeEntry)
class KnowledgeEntryAdmin(ScopedAdminMixin, admin.ModelAdmin):
    list_display = ["title", "short_answer", "account", "is_active", "updated_at"]
    list_editable = ["is_active"]
    list_filter = ["account", "is_active"]
    search_fields = ["title", "questions", "answer"]
    list_select_related = ["account"]
    fields = ["title", "questions", "answer", "link", "account", "is_active"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    actions = ["export_selected"]

    @admin.display(description="answer")
    def short_answer(self, entry):
        return entry.answer[:80]

    @admin.action(description="Export selected entries as CSV")
    def export_selected(self, request, queryset):
        response = HttpResponse(export_csv(queryset), content_type="text/csv")
        response["Content-Disposition"] = 'attachment; filename="knowledge.csv"'
        return response

    def get_urls(self):
        return [
            path(
                "import/",
                self.admin_site.admin_view(self.import_view),
                name="knowledge_knowledgeentry_import",
            ),
            *super().get_urls(),
        ]

    def import_view(self, request):
        if not (self.has_add_permission(request) and self.has_change_permission(request)):
            raise PermissionDenied
        form = ImportForm(request.POST or None, request.FILES or None)
        problems = []
        if request.method == "POST" and form.is_valid():
            try:
                done = import_csv(
                    form.cleaned_data["file"].read(MAX_IMPORT_BYTES + 1), request.user
                )
            except ImportRefused as refused:
                problems = refused.problems
            else:
                self.message_user(
                    request,
                    f"Imported: {done.created} new entries, {done.updated} updated.",
                    messages.SUCCESS,
                )
                return redirect("admin:knowledge_knowledgeentry_changelist")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Import knowledge from CSV",
            "form": form,
            "problems": problems,
        }
        return TemplateResponse(request, "admin/knowledge/knowledgeentry/import.html", context)


@admin.register(KnowledgeSettings)
class KnowledgeSettingsAdmin(ScopedAdminMixin, admin.ModelAdmin):
    list_display = ["__str__", "mode", "min_confidence", "max_answers_in_a_row"]
    formfield_overrides = {**ASCII_NUMBERS, models.FloatField: {"form_class": AsciiFloatField}}
    fields = [
        "account",
        "mode",
        "min_confidence",
        "max_answers_in_a_row",
        "daily_assistant_calls",
        "ai_model",
        "ai_api_key",
    ]

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        # A stored key is never shown back; leaving the box empty keeps it.
        form.base_fields["ai_api_key"].widget = forms.PasswordInput(render_value=False)
        form.base_fields["ai_api_key"].required = False
        return form

    def save_model(self, request, obj, form, change):
        if change and not form.cleaned_data.get("ai_api_key"):
            obj.ai_api_key = KnowledgeSettings.objects.get(pk=obj.pk).ai_api_key
        super().save_model(request, obj, form, change)


@admin.register(KnowledgeAnswer)
class KnowledgeAnswerAdmin(ScopedAdminMixin, admin.ModelAdmin):
    account_path = "conversation__account"
    list_display = ["created_at", "kind", "entry_titles", "model", "elapsed_ms", "verdict"]
    list_filter = ["kind", "verdict"]
    list_select_related = ["conversation"]
    readonly_fields = ANSWER_FIELDS

    def has_add_permission(self, request, *args):
        return False

    def has_change_permission(self, request, obj=None):
        return False
