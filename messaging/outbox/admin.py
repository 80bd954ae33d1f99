"""The admin's one list of every send of every kind, filterable by state, kind and account,
limited to the accounts (accounts.access.scope) and kinds (their view permission) of the user."""

from urllib.parse import urlencode

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse

from accounts.access import accounts_visible_to
from messaging.models import OutboxStatus, WaitingFor
from messaging.outbox.listing import STATES, every_send, kinds_visible_to

PER_PAGE = 100


class OutboxAdmin(admin.ModelAdmin):
    """On the Send proxy: its changelist is the union of every kind's rows."""

    def get_urls(self):
        # The list only: a row is opened where it belongs (its conversation, comment, mention),
        # never as a Message by id here, which would bypass the accounts' scope.
        info = self.opts.app_label, self.opts.model_name
        view = self.admin_site.admin_view(self.changelist_view)
        return [path("", view, name="{}_{}_changelist".format(*info))]

    def has_view_permission(self, request, obj=None):
        return bool(kinds_visible_to(request.user))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        kinds = kinds_visible_to(request.user)
        chosen = {
            name: request.GET.get(name, "")
            for name in ("kind", "state", "account")
            if request.GET.get(name, "")
        }
        accounts = accounts_visible_to(request.user)
        valid = {
            "kind": {kind.name for kind in kinds},
            "state": {value for value, _ in STATES},
            "account": set(accounts.values_list("instagram_id", flat=True)),
        }
        # A filter value nobody can choose is ignored, never an error page.
        chosen = {name: value for name, value in chosen.items() if value in valid[name]}
        sends = every_send(request.user, **chosen)
        page = Paginator(sends if sends is not None else [], PER_PAGE).get_page(
            request.GET.get("p")
        )
        labels = {kind.name: kind for kind in kinds}
        names = {account.instagram_id: str(account) for account in accounts}
        rows = [
            {
                **send,
                "label": labels[kind].label,
                "link": _link(labels[kind], send),
                "state": _state(send),
                "account_name": names.get(send["send_account"], send["send_account"]),
            }
            for send in page
            for kind in [send["send_kind"]]
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": "Outbox: every send",
            "opts": self.model._meta,
            "rows": rows,
            "page": page,
            "chosen": chosen,
            "filters": [
                _filter(chosen, "state", "State", STATES),
                _filter(chosen, "kind", "Kind", [(kind.name, kind.label) for kind in kinds]),
                _filter(chosen, "account", "Account", [(a.instagram_id, str(a)) for a in accounts]),
            ],
            "query": urlencode(chosen),
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/messaging/send/change_list.html", context)


def _filter(chosen: dict, name: str, label: str, choices) -> tuple[str, list]:
    """A filter's label and its options: (text, query string, selected), "All" first."""
    others = {other: value for other, value in chosen.items() if other != name}
    options = [("All", urlencode(others), name not in chosen)]
    for value, text in choices:
        options.append((text, urlencode({**others, name: value}), chosen.get(name) == value))
    return label, options


def _state(send: dict) -> str:
    state = OutboxStatus(send["status"]).label
    if send["status"] == OutboxStatus.QUEUED and send["waiting_for"]:
        return f"{state}, waiting for {WaitingFor(send['waiting_for']).label.lower()}"
    return state


def _link(kind, send: dict) -> str:
    try:
        return reverse(f"admin:{kind.context_admin}_change", args=[send["send_context"]])
    except NoReverseMatch:
        return ""
