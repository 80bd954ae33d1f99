"""Contacts, their tags and custom fields in the admin: lists filtered by tag, field, source
and last seen, a contact's tags and fields edited on its page, CSV export and import.
Access per account as everywhere (ScopedAdminMixin)."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Exists, OuterRef
from django.http import StreamingHttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone

from accounts.access import ScopedAdminMixin, scope
from contacts import (
    csv_files,
    editing,
    flow_admin,  # noqa: F401  (a rule's flow actions, on the rule's page)
)
from contacts.models import Contact, ContactField, ContactTag, FieldValue, Tag


class TagFilter(admin.SimpleListFilter):
    title = "tag"
    parameter_name = "tag"

    def lookups(self, request, model_admin):
        tags = scope(Tag.objects.all(), request.user, "account")
        names = tags.order_by("name").values_list("name", flat=True).distinct()[:200]
        return [(name, name) for name in names]

    def queryset(self, request, queryset):
        if self.value():
            tagged = ContactTag.objects.filter(contact=OuterRef("pk"), tag__name=self.value())
            return queryset.filter(Exists(tagged))
        return queryset


class FieldFilter(admin.SimpleListFilter):
    title = "field filled in"
    parameter_name = "field"

    def lookups(self, request, model_admin):
        fields = scope(ContactField.objects.all(), request.user, "account", shared=True)
        return [(f.key, f.label) for f in fields.order_by("label").distinct()[:200]]

    def queryset(self, request, queryset):
        # ?field=city (filled in), or ?field=city:Paris (this value, any case) as the API's.
        if self.value():
            key, colon, wanted = self.value().partition(":")
            values = FieldValue.objects.filter(contact=OuterRef("pk"), field__key=key.strip())
            if colon:
                values = values.filter(value__iexact=wanted.strip())
            return queryset.filter(Exists(values))
        return queryset


class OptedOutFilter(admin.SimpleListFilter):
    title = "opted out"
    parameter_name = "opted_out"

    def lookups(self, request, model_admin):
        return [("yes", "Opted out"), ("no", "Not opted out")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(opted_out_at__isnull=self.value() == "no")
        return queryset


class ContactForm(forms.ModelForm):
    """A contact's notes and opt-out, its tags (comma-separated) and a box per field of its
    account, all checked and written by contacts.editing, as the API and the inbox do."""

    tag_names = forms.CharField(
        label="Tags",
        required=False,
        max_length=5_000,
        help_text="Comma-separated (say vip, paris).",
    )
    opted_out = forms.BooleanField(required=False, help_text="No broadcast reaches them.")

    class Meta:
        model = Contact
        fields = ["notes"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        contact = self.instance
        self.custom = list(editing.fields_for(contact.conversation.account_id))
        values = editing.field_values(contact)
        self.fields["tag_names"].initial = ", ".join(editing.tag_names(contact))
        self.fields["opted_out"].initial = contact.opted_out
        for defined in self.custom:
            help_text = defined.get_kind_display()
            if defined.kind == ContactField.Kind.CHOICE:
                help_text = "One of: " + ", ".join(defined.choice_list())
            self.fields[f"field_{defined.key}"] = forms.CharField(
                label=defined.label,
                required=False,
                max_length=1_000,
                initial=values.get(defined.key, ""),
                help_text=help_text,
            )

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            self.change = editing.check_change(
                self.instance,
                tags=[t for t in data.get("tag_names", "").split(",") if t.strip()],
                values={f.key: data.get(f"field_{f.key}", "") for f in self.custom},
                notes=data.get("notes", ""),
                opted_out=data.get("opted_out"),
            )
        except ValidationError as exc:
            for name, problems in exc.message_dict.items():
                target = {"tags": "tag_names"}.get(name, name)
                if target not in self.fields:
                    target = f"field_{name}" if f"field_{name}" in self.fields else None
                self.add_error(target, problems)
        return data


@admin.register(Contact)
class ContactAdmin(ScopedAdminMixin, admin.ModelAdmin):
    account_path = "conversation__account"
    form = ContactForm
    change_list_template = "admin/contacts/contact/change_list.html"
    list_display = ["who", "name", "account", "source", "tag_list", "last_seen_at", "opted_out"]
    list_filter = [
        TagFilter,
        FieldFilter,
        "source",
        ("last_seen_at", admin.DateFieldListFilter),
        OptedOutFilter,
    ]
    search_fields = [
        "conversation__customer_username",
        "conversation__customer_id",
        "name",
        "values__value",
    ]
    list_select_related = ["conversation__account"]
    readonly_fields = ["who", "name", "account", "source", "source_ref", "first_seen_at"]
    fieldsets = [
        (None, {"fields": ["who", "name", "account", "source", "source_ref", "first_seen_at"]}),
        ("What staff know", {"fields": ["tag_names", "notes", "opted_out"]}),
    ]
    actions = ["export_csv", "mark_opted_out"]

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        # A box per field of the contact's account (the form adds them).
        defined = editing.fields_for(obj.conversation.account_id) if obj is not None else []
        custom = [f"field_{f.key}" for f in defined]
        return [*fieldsets, ("Fields", {"fields": custom})] if custom else fieldsets

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["fields"] = ["notes"]  # the rest are the form's own
        return super().get_form(request, obj, change, **kwargs)

    def get_queryset(self, request):
        contacts = super().get_queryset(request)
        return contacts.prefetch_related("tags")

    def has_add_permission(self, request):
        return False  # a contact begins with the customer's first message

    def save_model(self, request, obj, form, change):
        editing.apply_change(obj, form.change)

    @admin.display(description="customer", ordering="conversation__customer_username")
    def who(self, contact):
        conversation = contact.conversation
        return (
            f"@{conversation.customer_username}"
            if conversation.customer_username
            else (conversation.customer_id)
        )

    @admin.display(description="account", ordering="conversation__account")
    def account(self, contact):
        return contact.conversation.account or contact.conversation.instagram_account_id

    @admin.display(description="tags")
    def tag_list(self, contact):
        return ", ".join(sorted(tag.name for tag in contact.tags.all()))

    @admin.display(description="opted out", boolean=True, ordering="opted_out_at")
    def opted_out(self, contact):
        return contact.opted_out

    @admin.action(description="Export selected contacts as CSV")
    def export_csv(self, request, queryset):
        rows = csv_files.export_rows(queryset)
        response = StreamingHttpResponse(
            csv_files.export_text(rows), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = 'attachment; filename="contacts.csv"'
        return response

    @admin.action(description="Mark selected contacts as opted out", permissions=["change"])
    def mark_opted_out(self, request, queryset):
        marked = queryset.filter(opted_out_at__isnull=True).update(opted_out_at=timezone.now())
        self.message_user(request, f"{marked} contact(s) marked as opted out.")

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_import": self.has_change_permission(request)}
        return super().changelist_view(request, extra_context)

    def get_urls(self):
        view = self.admin_site.admin_view(self.import_view)
        return [path("import/", view, name="contacts_contact_import"), *super().get_urls()]

    def import_view(self, request):
        """Update contacts from a CSV file, as exported; skipped rows are listed."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        form = ImportForm(request.POST or None, request.FILES or None)
        report = None
        if request.method == "POST" and form.is_valid():
            try:
                report = csv_files.import_file(
                    form.cleaned_data["file"].read(), self.get_queryset(request)
                )
            except csv_files.BadFile as exc:
                form.add_error("file", str(exc))
            else:
                self.message_user(request, f"{report.updated} contact(s) updated.")
                if not report.skipped:
                    return redirect("admin:contacts_contact_changelist")
                messages.warning(request, f"{len(report.skipped)} row(s) skipped.")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Import contacts from CSV",
            "form": form,
            "report": report,
        }
        return TemplateResponse(request, "admin/contacts/contact/import.html", context)


class ImportForm(forms.Form):
    file = forms.FileField(help_text="A CSV file as exported: account and customer_id find each.")

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > csv_files.IMPORT_MAX_BYTES:
            raise ValidationError("At most 5 MB a file.")
        return upload


@admin.register(ContactField)
class ContactFieldAdmin(ScopedAdminMixin, admin.ModelAdmin):
    list_display = ["label", "key", "kind", "account"]
    list_filter = ["account", "kind"]
    search_fields = ["key", "label"]


@admin.register(Tag)
class TagAdmin(ScopedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "account", "contacts"]
    list_filter = ["account"]
    search_fields = ["name"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(contact_count=Count("contacttag"))

    @admin.display(description="contacts", ordering="contact_count")
    def contacts(self, tag):
        return tag.contact_count
