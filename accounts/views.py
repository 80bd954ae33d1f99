"""Connecting an account (accounts.connect): the choice of login, Meta's redirect back, the
choice of Pages after a Facebook Login, and each account's setup check."""

import logging

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_http_methods

from accounts import connect, requirements

logger = logging.getLogger(__name__)


@staff_member_required
@require_GET
def choose_login(request):
    # 200: two buttons, one per login (or why connecting is not possible for this user).
    return _render(
        request,
        "accounts/connect.html",
        {
            "title": "Connect an Instagram account",
            "may_connect": connect.may_connect(request.user),
            "logins": [
                {"key": key, "label": label, "configured": connect.is_configured(key)}
                for key, label in connect.LOGINS.items()
            ],
        },
    )


@staff_member_required
@require_GET
def start(request, login: str):
    try:
        url = connect.start(request, login)
    except connect.Refused as exc:
        return _refused(request, exc)
    # 302: to Meta's authorize page; Meta sends the browser back to the callback.
    return HttpResponseRedirect(url)


@staff_member_required
@require_GET
def callback(request, login: str):
    try:
        outcome = connect.finish(request, login)
    except connect.Refused as exc:
        # 400 (403 without the permission): a clear page, nothing stored.
        return _refused(request, exc)
    if isinstance(outcome, list):
        # 200: Facebook Login; the staff user picks the Pages' Instagram accounts.
        return _pages(request, outcome)
    return _connected(request, outcome)


@staff_member_required
@require_http_methods(["GET", "POST"])
def choose_pages(request):
    try:
        if request.method == "GET":
            return _pages(request, connect.page_choices(request))
        outcome = connect.connect_pages(request, request.POST.getlist("instagram_id"))
    except connect.Refused as exc:
        return _refused(request, exc)
    except connect.graph.GraphAPIError as exc:
        # 502: Meta would not list the Pages; nothing stored.
        return _refused(request, connect.Refused(f"Meta refused: {exc}"), status=502)
    return _connected(request, outcome)


def _pages(request, choices):
    return _render(
        request,
        "accounts/connect_pages.html",
        {"title": "Choose the accounts to connect", "choices": choices},
    )


def _connected(request, outcome):
    # 200: what was connected, and anything left to fix.
    return _render(
        request,
        "accounts/connected.html",
        {
            "title": "Connected",
            "outcome": outcome,
            "fields": {a.pk: requirements.webhook_fields(a.api) for a in outcome.accounts},
        },
    )


def _render(request, template, context, status=200):
    # The admin's look and navigation around these pages.
    return render(request, template, {**admin.site.each_context(request), **context}, status=status)


def _refused(request, exc, status=None):
    return _render(
        request,
        "accounts/connect_refused.html",
        {"title": "Not connected", "reason": str(exc)},
        status=status or exc.status,
    )
