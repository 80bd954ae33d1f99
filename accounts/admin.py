from django import forms
from django.contrib import admin

from accounts import encryption, services
from accounts.access import ScopedAdminMixin, sees_all_accounts
from accounts.models import (
    CREDENTIAL_FIELDS,
    CREDENTIAL_MAX_LENGTH,
    TOKEN_STATE_FIELDS,
    AccountAccess,
    InstagramBusinessAccount,
)
from history.importing import request_import
from instabot.admin_lookups import FilterLookupsOnly

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


@admin.register(InstagramBusinessAccount)
class InstagramBusinessAccountAdmin(ScopedAdminMixin, admin.ModelAdmin):
    account_path = "pk"
    form = AccountForm
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
    actions = ["check_tokens", "import_history"]
    readonly_fields = ["access_token_hint", *TOKEN_STATE_FIELDS]
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
        ("Replies", {"fields": ["fallback_reply", "max_sends_per_second"]}),
    ]

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

    @admin.action(description="Import message history (Conversations API)", permissions=["change"])
    def import_history(self, request, queryset):
        for account in queryset:
            request_import(account)
            self.message_user(
                request, f"{account}: history import queued; see History imports for progress."
            )


@admin.register(AccountAccess)
class AccountAccessAdmin(FilterLookupsOnly, admin.ModelAdmin):
    """Who may work on which account. Granting is for staff who see every account."""

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
