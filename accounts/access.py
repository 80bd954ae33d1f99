"""Access per account: which accounts' data a staff user may see and change.

One deployment can serve several businesses; a staff user is limited to the accounts granted
to them (AccountAccess). Superusers and users with the accounts.see_all_accounts permission
see everything. Data that belongs to no stored account (conversations of the environment's
single account, rules and saved replies shared by all accounts) is theirs alone to see and
change; the inbox still offers shared saved replies to everyone (`shared=True`).

Everything that reads or changes a conversation, message, rule, saved reply, comment or
account goes through `scope` (the inbox, the admin via ScopedAdminMixin, the API via
ScopedViewSetMixin). Rows outside a user's scope do not exist for them: 404, never 403, so
ids don't leak.
"""

from django import forms
from django.contrib import admin
from django.db.models import Q, QuerySet
from rest_framework import exceptions, serializers

from accounts.models import InstagramBusinessAccount
from instabot.admin_lookups import FilterLookupsOnly

ALL_ACCOUNTS_CODENAME = "see_all_accounts"
ALL_ACCOUNTS_PERMISSION = f"accounts.{ALL_ACCOUNTS_CODENAME}"


def sees_all_accounts(user) -> bool:
    return bool(user.is_active and (user.is_superuser or user.has_perm(ALL_ACCOUNTS_PERMISSION)))


def visible_account_ids(user) -> set[int] | None:
    """The ids of the accounts `user` may work on; None: every account (and accountless data)."""
    if sees_all_accounts(user):
        return None
    if not user.is_active or not user.is_authenticated:
        return set()
    return set(user.account_grants.values_list("account_id", flat=True))


def accounts_visible_to(user) -> QuerySet[InstagramBusinessAccount]:
    return scope(InstagramBusinessAccount.objects.all(), user, "pk")


def scope(queryset: QuerySet, user, path: str | None, *, shared: bool = False) -> QuerySet:
    """`queryset` limited to the rows of accounts `user` may see.

    `path` leads from the model to its account ("account", "conversation__account", "pk" for
    the account itself); None: data of no particular account (raw deliveries), for
    all-accounts users only. `shared`: rows with no account are visible too (read-only).
    """
    ids = visible_account_ids(user)
    if ids is None:
        return queryset
    if path is None:
        return queryset.none()
    visible = Q(**{f"{path}__in": ids})
    if shared:
        visible |= Q(**{f"{path}__isnull": True})
    return queryset.filter(visible)


def may_change_account(user, account_id: int | None) -> bool:
    """Whether `user` may change data of this account (None: accountless or shared data)."""
    ids = visible_account_ids(user)
    return ids is None or (account_id is not None and account_id in ids)


def account_id_of(obj, path: str | None) -> int | None:
    """The account id of `obj`, following `path` as `scope` does."""
    if path is None:
        return None
    if path == "pk":
        return obj.pk
    *hops, last = path.split("__")
    for hop in hops:
        obj = getattr(obj, hop)
        if obj is None:
            return None
    return getattr(obj, f"{last}_id")


class AccountMenusForm(forms.Form):
    """A form whose account menus offer only the accounts its user may see.

    Declare each menu with `InstagramBusinessAccount.objects.none()`: a form built for no
    user offers no account, so a page can never list every account by forgetting a step.
    """

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            if (
                isinstance(field, forms.ModelChoiceField)
                and field.queryset.model is InstagramBusinessAccount
            ):
                field.queryset = accounts_visible_to(user)


class VisibleAccountsFilter(admin.RelatedFieldListFilter):
    """The admin's account filter, offering only the accounts the user may see."""

    def field_choices(self, field, request, model_admin):
        return [(account.pk, str(account)) for account in accounts_visible_to(request.user)]


class ScopedAdminMixin(FilterLookupsOnly):
    """A ModelAdmin showing and changing only the rows of the user's accounts.

    Lists, search, filters, actions and change pages all start from get_queryset; a row of
    another account is "not found" there as a missing id is.
    """

    account_path: str | None = "account"

    def get_queryset(self, request):
        return scope(super().get_queryset(request), request.user, self.account_path)

    def get_list_filter(self, request):
        return [
            (name, VisibleAccountsFilter) if name == self.account_path else name
            for name in super().get_list_filter(request)
        ]

    def has_add_permission(self, request, *args):
        # Limited staff may add rows only where they choose one of their accounts.
        allowed = super().has_add_permission(request, *args)
        return allowed and (self.account_path == "account" or sees_all_accounts(request.user))

    def has_change_permission(self, request, obj=None):
        allowed = super().has_change_permission(request, obj)
        return allowed and self._may_change(request, obj)

    def has_delete_permission(self, request, obj=None):
        allowed = super().has_delete_permission(request, obj)
        return allowed and self._may_change(request, obj)

    def _may_change(self, request, obj) -> bool:
        if obj is None:
            return True
        return may_change_account(request.user, account_id_of(obj, self.account_path))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.related_model is InstagramBusinessAccount:
            kwargs["queryset"] = accounts_visible_to(request.user)
            # Accountless (shared) rows belong to all-accounts staff.
            kwargs["required"] = not sees_all_accounts(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class ScopedViewSetMixin:
    """A DRF viewset reading and writing only the rows of the user's accounts.

    Other accounts' rows answer 404 (get_object uses get_queryset); an `account` given in a
    request body must be one of the user's accounts, with the error a missing id gets.
    """

    account_path: str | None = "account"

    def get_queryset(self):
        return scope(super().get_queryset(), self.request.user, self.account_path)

    def get_serializer(self, *args, **kwargs):
        serializer = super().get_serializer(*args, **kwargs)
        field = getattr(serializer, "fields", {}).get("account")
        if isinstance(field, serializers.PrimaryKeyRelatedField) and not field.read_only:
            field.queryset = accounts_visible_to(self.request.user)
        return serializer

    def perform_create(self, serializer):
        if self.account_path != "account" and not sees_all_accounts(self.request.user):
            # A new account (or accountless row) is for staff who see every account.
            raise exceptions.PermissionDenied("Only staff who see every account may add these.")
        self._check_account(serializer)
        super().perform_create(serializer)

    def perform_update(self, serializer):
        self._check_account(serializer)
        super().perform_update(serializer)

    def _check_account(self, serializer) -> None:
        if self.account_path != "account":
            return
        data = serializer.validated_data
        if "account" in data:
            account = data["account"]
        else:
            account = getattr(serializer.instance, "account", None)
        if not may_change_account(self.request.user, account.pk if account else None):
            raise serializers.ValidationError({"account": ["Choose one of your accounts."]})
