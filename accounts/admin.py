from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import Http404, HttpResponseRedirect
from django.urls import path
from django.utils.html import format_html

from accounts import encryption, messenger_profile, services, setup_views
from accounts.access import ScopedAdminMixin, sees_all_accounts
from accounts.models import (
    CREDENTIAL_FIELDS,
    CREDENTIAL_MAX_LENGTH,
    ROUTING_FIELDS,
    TOKEN_STATE_FIELDS,
    AccountAccess,
    IceBreaker,
    InstagramBusinessAccount,
    MenuItem,
)
from instabot.admin_forms import ASCII_NUMBERS
from instabot.admin_lookups import FilterLookupsOnly
from meta import profile
from meta.messages import MENU_ITEMS_MAX

OTHER_APP_HELP = "Only for an account of another Meta app. Leave empty to keep the current one."


def write_only_field(help_text: str) -> forms.CharField:
    """A password box: typed in, never rendered back."""
    return forms.CharField(
        required=False,
        strip=True,
        max_length=CREDENTIAL_MAX_LENGTH,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=help_text,
    )


class AccountForm(forms.ModelForm):
    """Credentials are write-only: never shown again, left as they are when the box is empty
    (as in the API). They are not model fields of the form: it never reads the stored ones,
    which a wrong FIELD_ENCRYPTION_KEY could not open, and only save() writes them."""

    access_token = write_only_field("Leave empty to keep the current token.")
    app_secret = write_only_field(OTHER_APP_HELP)
    verify_token = write_only_field(OTHER_APP_HELP)
    clear_app_secret_and_verify_token = forms.BooleanField(
        required=False,
        help_text="Use the service's own FACEBOOK_APP_SECRET and INSTAGRAM_VERIFY_TOKEN again.",
    )

    class Meta:
        model = InstagramBusinessAccount
        fields = [
            "name",
            "username",
            "instagram_id",
            "page_id",
            "api",
            "is_active",
            "fallback_reply",
            "max_sends_per_second",
        ]

    def clean_access_token(self):
        token = self.cleaned_data["access_token"]
        if not token and not self.instance.has_access_token:
            raise forms.ValidationError("An account needs an access token to send replies.")
        return token

    def clean(self):
        cleaned = super().clean()
        if any(cleaned.get(name) for name in CREDENTIAL_FIELDS) and not encryption.can_encrypt():
            raise forms.ValidationError(
                "FIELD_ENCRYPTION_KEY is not set: credentials cannot be stored. Set it in the "
                "service's environment (see .env.example), then save again."
            )
        return cleaned

    def save(self, commit=True):
        account = super().save(commit=False)
        account.set_credentials(
            **{name: self.cleaned_data.get(name, "") for name in CREDENTIAL_FIELDS},
            clear_app_secret_and_verify_token=self.cleaned_data.get(
                "clear_app_secret_and_verify_token", False
            ),
        )
        if commit:
            account.save()
        return account


class LimitedAccountForm(AccountForm):
    """The account form of staff limited to some accounts: what routes Meta's deliveries to this
    account (its ids) and what verifies them (another app's secrets) is not theirs to change.
    Pointed at another account's id, the next DM there would bring that conversation, with its
    history, into an account they read."""

    app_secret = None
    verify_token = None
    clear_app_secret_and_verify_token = None

    class Meta(AccountForm.Meta):
        fields = [name for name in AccountForm.Meta.fields if name not in ROUTING_FIELDS]


class IceBreakerFormSet(forms.BaseInlineFormSet):
    """Meta's limits on the whole set (a default locale, at most 4 per locale), as the
    messenger profile states them."""

    def clean(self):
        super().clean()
        per_locale: dict[str, list[profile.IceBreaker]] = {}
        for form in self.forms:
            if form.cleaned_data and not form.cleaned_data.get("DELETE"):
                data = form.cleaned_data
                per_locale.setdefault(data.get("locale") or "default", []).append(
                    profile.IceBreaker(data.get("question", ""), data.get("payload", ""))
                )
        wanted = profile.MessengerProfile({loc: tuple(b) for loc, b in per_locale.items()})
        if problems := wanted.problems():
            raise forms.ValidationError(problems)


class MenuItemFormSet(forms.BaseInlineFormSet):
    def clean(self):
        super().clean()
        items = [f for f in self.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]
        if len(items) > MENU_ITEMS_MAX:
            raise forms.ValidationError(f"The menu has at most {MENU_ITEMS_MAX} items.")


class IceBreakerInline(admin.TabularInline):
    model = IceBreaker
    formset = IceBreakerFormSet
    formfield_overrides = ASCII_NUMBERS
    extra = 0
    fields = ["locale", "question", "payload", "position"]
    verbose_name_plural = (
        "ice breakers (questions shown to a customer opening a first conversation: at most 4 "
        "per locale, a default locale required; a rule with the payload answers the tap)"
    )


class MenuItemInline(admin.TabularInline):
    model = MenuItem
    formset = MenuItemFormSet
    extra = 0
    fields = ["title", "payload", "url", "position"]
    formfield_overrides = {**ASCII_NUMBERS, models.URLField: {"assume_scheme": "https"}}
    verbose_name_plural = "persistent menu (a payload, answered by a rule, or a link)"


@admin.register(InstagramBusinessAccount)
class InstagramBusinessAccountAdmin(ScopedAdminMixin, admin.ModelAdmin):
    account_path = "pk"
    form = AccountForm
    inlines = [IceBreakerInline, MenuItemInline]
    formfield_overrides = ASCII_NUMBERS
    # The fieldsets name the credential boxes; they stay the form's own fields, not the model's.
    exclude = list(CREDENTIAL_FIELDS)
    list_display = [
        "name",
        "username",
        "instagram_id",
        "api",
        "is_active",
        "token",
        "token_expires",
    ]
    list_filter = ["is_active", "api"]
    search_fields = ["name", "username", "instagram_id"]
    # history.admin adds its import action: accounts do not import the apps above them.
    actions = ["check_tokens", "push_messenger_profile", "read_back_profile"]
    readonly_fields = ["access_token_hint", *TOKEN_STATE_FIELDS, "at_meta"]
    fieldsets = [
        (None, {"fields": ["name", "username", "instagram_id", "page_id", "api", "is_active"]}),
        (
            "Access token",
            {"fields": ["access_token", "access_token_hint", *TOKEN_STATE_FIELDS]},
        ),
        (
            "Another Meta app",
            {
                "classes": ["collapse"],
                "fields": ["app_secret", "verify_token", "clear_app_secret_and_verify_token"],
            },
        ),
        (
            "Replies",
            {
                "fields": [
                    "fallback_reply",
                    "max_sends_per_second",
                    "send_typing",
                    "human_agent_allowed",
                ]
            },
        ),
        ("Ice breakers and menu at Meta", {"fields": ["at_meta"]}),
    ]

    def get_form(self, request, obj=None, **kwargs):
        if not sees_all_accounts(request.user):
            kwargs["form"] = LimitedAccountForm
        return super().get_form(request, obj, **kwargs)

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if sees_all_accounts(request.user):
            return fieldsets
        return [(name, opts) for name, opts in fieldsets if name != "Another Meta app"]

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        if sees_all_accounts(request.user):
            return readonly
        return [*readonly, *(name for name in ROUTING_FIELDS if name not in CREDENTIAL_FIELDS)]

    def get_urls(self):
        return [
            path(
                "<int:object_id>/setup/",
                self.admin_site.admin_view(self.setup_check_view),
                name="accounts_instagrambusinessaccount_setup",
            ),
            *super().get_urls(),
        ]

    def setup_check_view(self, request, object_id):
        """The account's setup check; POST subscribes its missing webhook fields."""
        account = self.get_object(request, str(object_id))
        if account is None or not self.has_view_permission(request, account):
            raise Http404("No such account.")
        if request.method == "POST":
            if not self.has_change_permission(request, account):
                raise PermissionDenied
            self.message_user(request, setup_views.subscribe(account))
            return HttpResponseRedirect(request.path)
        return setup_views.render_check(request, account, self.admin_site.each_context(request))

    @admin.display(description="as Meta has them")
    def at_meta(self, account):
        """Meta's ice breakers and menu when last read back, and whether they differ."""
        if account.pk is None or account.messenger_profile_checked_at is None:
            return "Not read back yet: use the action “Push ice breakers and menu to Meta”."
        at_meta = account.messenger_profile_at_meta or {}
        breakers = [
            f"{locale}: {b.get('question', '')} → {b.get('payload', '')}"
            for locale, items in at_meta.get("ice_breakers", {}).items()
            for b in items
        ]
        menu = [
            f"{i.get('title', '')} → {i.get('payload') or i.get('url')}"
            for i in at_meta.get("persistent_menu", [])
        ]
        drift = account.messenger_profile_drift()
        state = (
            "DIFFERENT from what is set here: push again"
            if drift
            else "the same as set here"
            if drift is False
            else "unknown"
        )
        return format_html(
            "<p>Read {} UTC: <strong>{}</strong>{}</p><p>Ice breakers: {}</p><p>Menu: {}</p>",
            f"{account.messenger_profile_checked_at:%Y-%m-%d %H:%M}",
            state,
            f" ({account.messenger_profile_problem})" if account.messenger_profile_problem else "",
            "; ".join(breakers) or "none",
            "; ".join(menu) or "none",
        )

    @admin.display(description="current token")
    def access_token_hint(self, account):
        if unreadable := account.unreadable_credentials():
            return (
                f"unreadable: FIELD_ENCRYPTION_KEY does not open the stored "
                f"{', '.join(unreadable)}. Fix the key, or enter them again."
            )
        return account.access_token_hint or "-"

    @admin.display(description="token")
    def token(self, account):
        if account.token_is_invalid:
            return f"invalid since {account.token_invalid_since:%Y-%m-%d %H:%M}"
        return account.access_token_hint or "none"

    @admin.display(description="token expires", ordering="access_token_expires_at")
    def token_expires(self, account):
        return account.access_token_expires_at or "-"

    @admin.action(description="Check tokens with the Graph API", permissions=["change"])
    def check_tokens(self, request, queryset):
        for account in queryset:
            self.message_user(request, f"{account}: {services.check_token(account)}")

    @admin.action(description="Push ice breakers and menu to Meta", permissions=["change"])
    def push_messenger_profile(self, request, queryset):
        for account in queryset:
            self.message_user(request, f"{account}: {messenger_profile.push(account)}")

    @admin.action(description="Read ice breakers and menu back from Meta", permissions=["change"])
    def read_back_profile(self, request, queryset):
        for account in queryset:
            self.message_user(request, f"{account}: {messenger_profile.read_back(account)}")


@admin.register(AccountAccess)
class AccountAccessAdmin(FilterLookupsOnly, admin.ModelAdmin):
    """Who may work on which account. Granting is for staff who see every account."""

    formfield_overrides = ASCII_NUMBERS
    list_display = ["user", "account"]
    list_filter = ["account"]
    search_fields = ["user__username", "account__name", "account__username"]
    list_select_related = ["user", "account"]

    def has_module_permission(self, request):
        return sees_all_accounts(request.user) and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return sees_all_accounts(request.user) and super().has_view_permission(request, obj)

    def has_add_permission(self, request):
        return sees_all_accounts(request.user) and super().has_add_permission(request)

    def has_change_permission(self, request, obj=None):
        return sees_all_accounts(request.user) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return sees_all_accounts(request.user) and super().has_delete_permission(request, obj)
