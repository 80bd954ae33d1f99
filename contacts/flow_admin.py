"""A rule's flow actions and A/B variants, edited on the rule's own admin page (inlines the
rules admin takes from rules.admin.extra_inlines), checked when saved."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import models

from accounts.access import scope
from contacts.models import ContactField, ReplyVariant, RuleAction
from contacts.models.flows import MAX_ACTIONS, MAX_VARIANTS, check_action_list
from instabot.admin_forms import ASCII_NUMBERS
from rules import admin as rules_admin
from rules.models import ResponseRule


class OptionalFormSet(forms.BaseInlineFormSet):
    """A rule's page posted without this section (a script or a page from before contacts,
    posting the rule's own fields) leaves its rows as they are, rather than refusing the
    rule for a missing management form."""

    def absent(self) -> bool:
        return self.is_bound and f"{self.prefix}-TOTAL_FORMS" not in self.data

    def full_clean(self):
        if self.absent():
            self._errors, self._non_form_errors = [], self.error_class()
            return
        super().full_clean()

    def is_valid(self):
        return True if self.absent() else super().is_valid()

    def save(self, commit=True):
        if self.absent():
            self.new_objects, self.changed_objects, self.deleted_objects = [], [], []
            return []
        return super().save(commit)


class ActionFormSet(OptionalFormSet):
    def clean(self):
        super().clean()
        kept = [
            form.instance
            for form in sorted(self.forms, key=lambda f: f.cleaned_data.get("position") or 0)
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]
        try:
            check_action_list(kept)
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None


class ScopedChoicesInline(admin.StackedInline):
    """Rules and fields to choose from: those of the user's accounts (and shared ones)."""

    formfield_overrides = ASCII_NUMBERS
    extra = 0

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.related_model is ResponseRule:
            kwargs["queryset"] = scope(ResponseRule.objects.all(), request.user, "account")
        elif db_field.related_model is ContactField:
            kwargs["queryset"] = scope(
                ContactField.objects.all(), request.user, "account", shared=True
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class RuleActionInline(ScopedChoicesInline):
    model = RuleAction
    fk_name = "rule"
    formset = ActionFormSet
    max_num = MAX_ACTIONS
    formfield_overrides = {**ASCII_NUMBERS, models.URLField: {"assume_scheme": "https"}}
    fields = [
        "position",
        "kind",
        ("tag", "field", "value"),
        "retry_text",
        "url",
        ("then_rule", "else_rule"),
    ]
    verbose_name = "flow action"
    verbose_name_plural = (
        "flow actions (after the reply is sent, in order; a question or a branch comes last)"
    )

    def get_formset(self, request, obj=None, **kwargs):
        return super().get_formset(request, obj, validate_max=True, **kwargs)


class ReplyVariantInline(ScopedChoicesInline):
    model = ReplyVariant
    formset = OptionalFormSet
    max_num = MAX_VARIANTS
    fields = [("label", "weight"), "text"]
    verbose_name = "A/B variant"
    verbose_name_plural = (
        "A/B variants of the text (when there are some, one of them is sent instead of the "
        "rule's text, by weight; the dashboard compares them)"
    )

    def get_formset(self, request, obj=None, **kwargs):
        return super().get_formset(request, obj, validate_max=True, **kwargs)


rules_admin.extra_inlines.extend([RuleActionInline, ReplyVariantInline])
