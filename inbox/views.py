"""The staff inbox (/inbox/): a page, and the small JSON endpoints its script polls and posts to.

Every view starts from the conversations the user may see (accounts.access): another
account's conversation is "not found". Reading needs messaging.view_conversation; answering
and commands need messaging.change_conversation, as in the admin and the API.
"""

import logging

from django import forms
from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from accounts.access import accounts_visible_to
from inbox import commands, listing, threads
from inbox.models import ReadMarker
from instabot.admin_forms import AsciiIntegerField
from instabot.logging import log_context
from instabot.rest import ID_DIGITS
from instabot.text_limits import REPLY_MAX_LENGTH
from messaging import replies

logger = logging.getLogger(__name__)

VIEW = "messaging.view_conversation"
CHANGE = "messaging.change_conversation"


def _require(request, permission: str) -> None:
    if not request.user.has_perm(permission):
        raise PermissionDenied(f"You need the {permission} permission.")


def _bad_request(request, reason: str) -> JsonResponse:
    logger.info("Inbox: refused %s %s: %s", request.method, request.path, reason)
    # 400: the client sent something we cannot act on; nothing was changed.
    return JsonResponse({"error": reason}, status=400)


@staff_member_required
@require_GET
def inbox(request):
    _require(request, VIEW)
    context = {
        "accounts": accounts_visible_to(request.user),
        "views": listing.VIEWS,
        "saved_replies": threads.saved_replies_for(request.user),
        "poll_ms": int(settings.INBOX_POLL_SECONDS * 1000),
        "can_reply": request.user.has_perm(CHANGE),
        "can_edit_contact": request.user.has_perm(CHANGE)
        and request.user.has_perm("contacts.change_contact"),
        # privacy's page: export, then erase, one customer's data.
        "can_erase_customers": request.user.has_perm("privacy.erase_customer"),
    }
    return render(request, "inbox/inbox.html", context)


@staff_member_required
@require_GET
def updates(request):
    """The list (and the open thread's news): what the page polls."""
    _require(request, VIEW)
    try:
        filters = listing.ListFilters.from_query(request.GET)
        opened, after, pending = _open_thread_params(request.GET)
    except (listing.BadFilter, ValueError) as exc:
        return _bad_request(request, str(exc))
    waiting = listing.needs_reply_count(request.user)
    body = {
        # The page title counts every conversation waiting; the list's heading, those the
        # filters show (the same ones when none is set: not counted twice).
        "needs_reply": waiting,
        "needs_reply_listed": waiting
        if filters == listing.ListFilters()
        else listing.needs_reply_count(request.user, filters),
        "conversations": listing.conversation_page(request.user, filters),
    }
    if opened is not None:
        conversation = threads.conversation_or_404(request.user, opened)
        body["conversation"] = threads.conversation_json(conversation)
        body["messages"] = threads.thread_updates(conversation, after, pending)
    # 200: the current list, and what changed in the open thread.
    return JsonResponse(body)


def _open_thread_params(query) -> tuple[int | None, int, list[int]]:
    opened = query.get("open") or None
    if opened is None:
        return None, 0, []
    pending = [p for p in (query.get("pending") or "").split(",") if p]
    if not ID_DIGITS.fullmatch(opened) or not ID_DIGITS.fullmatch(query.get("after") or "0"):
        raise ValueError("open and after must be ids")
    if not all(ID_DIGITS.fullmatch(p) for p in pending):
        raise ValueError("pending must be ids, comma-separated")
    return int(opened), int(query.get("after") or 0), [int(p) for p in pending]


@staff_member_required
@require_GET
def conversation(request, pk):
    """One conversation opened: its thread, the customer, who it may be assigned to."""
    _require(request, VIEW)
    conversation = threads.conversation_or_404(request.user, pk)
    body = {
        "conversation": threads.conversation_json(conversation),
        "messages": threads.thread(conversation),
        "customer": threads.customer_card(conversation),
        "staff": [
            {"id": u.pk, "username": u.get_username()}
            for u in threads.assignable_users(conversation)
        ],
    }
    # 200: found among the conversations this user may see (others are 404).
    return JsonResponse(body)


class ReadForm(forms.Form):
    message = AsciiIntegerField(min_value=0)


@staff_member_required
@require_POST
def mark_read(request, pk):
    _require(request, VIEW)
    conversation = threads.conversation_or_404(request.user, pk)
    form = ReadForm(request.POST)
    if not form.is_valid():
        return _bad_request(request, "message must be a message id")
    ReadMarker.mark_read(request.user, conversation.pk, form.cleaned_data["message"])
    # 204: the user's marker moved; nothing to show.
    return JsonResponse({}, status=204)


class ReplyForm(forms.Form):
    # What the API and the admin take: a person's reply is a few messages at most.
    text = forms.CharField(strip=True, max_length=REPLY_MAX_LENGTH)


@staff_member_required
@require_POST
def reply(request, pk):
    """Send a staff reply: messaging.replies.send_staff_reply, as the admin and the API do."""
    _require(request, CHANGE)
    conversation = threads.conversation_or_404(request.user, pk)
    form = ReplyForm(request.POST)
    if not form.is_valid():
        # An empty box asks for text; anything else is told what is wrong (the cap, a NUL).
        typed = form.data.get("text", "").strip()
        return _bad_request(
            request, form.errors["text"][0] if typed else "Write something to send."
        )
    try:
        parts = replies.send_staff_reply(conversation, form.cleaned_data["text"], request.user)
    except replies.ReplyRefused as exc:
        # 409: Instagram's reply window is closed for this conversation; the box says why.
        logger.info("Reply to conversation %s refused: %s", conversation.pk, exc)
        return JsonResponse({"error": str(exc)}, status=409)
    # 201: queued; the page follows it to sent (or failed) through its updates.
    return JsonResponse({"messages": [threads.message_json(p) for p in parts]}, status=201)


@staff_member_required
@require_POST
def command(request, pk, name):
    """assign, resolve, reopen, pause, resume, note: one conversation, one change."""
    _require(request, CHANGE)
    conversation = threads.conversation_or_404(request.user, pk)
    with log_context(account=conversation.instagram_account_id, conversation=conversation.pk):
        try:
            commands.run(conversation, name, request.POST, request.user)
        except commands.Refused as exc:
            return _bad_request(request, str(exc))
    conversation.refresh_from_db()
    # 200: done; the conversation and the customer as they are now.
    return JsonResponse(
        {
            "conversation": threads.conversation_json(conversation),
            "customer": threads.customer_card(conversation),
        }
    )
