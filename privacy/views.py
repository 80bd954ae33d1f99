"""Meta's deauthorize and data deletion callbacks, the public deletion status page, and a
customer's data exported or erased by staff."""

import json
import logging

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.access import scope
from messaging.models import Conversation
from meta.signed_request import InvalidSignedRequest
from privacy import callbacks, erasure
from privacy.models import DataDeletionRequest

logger = logging.getLogger(__name__)

ERASE_PERMISSION = "privacy.erase_customer"


def _verified(request, what: str):
    """(the signed request, its login), or the 400 to answer."""
    try:
        return callbacks.verify(request.POST.get("signed_request", "")), None
    except InvalidSignedRequest as exc:
        # 400: not provably from Meta; nothing changed.
        logger.warning("%s callback refused: %s", what, exc)
        return None, HttpResponse("Invalid signed_request", status=400, content_type="text/plain")


# Meta cannot send a CSRF token: the signed_request's HMAC is what authenticates these.
@csrf_exempt
@require_POST
def deauthorize(request):
    verified, refusal = _verified(request, "Deauthorize")
    if refusal:
        return refusal
    # 200: done (also for a person with no account here, and for a redelivery).
    return JsonResponse({"accounts": callbacks.deauthorize(*verified)})


@csrf_exempt
@require_POST
def data_deletion(request):
    verified, refusal = _verified(request, "Data deletion")
    if refusal:
        return refusal
    deletion = callbacks.request_deletion(*verified)
    url = request.build_absolute_uri(
        reverse("privacy:deletion-status", args=[deletion.confirmation_code])
    )
    # 200: Meta's required answer; the erasure itself runs in the worker.
    return JsonResponse({"url": url, "confirmation_code": deletion.confirmation_code})


@require_GET
def deletion_status(request, code: str):
    """Public: what was erased and when (the person follows Meta's link here)."""
    deletion = DataDeletionRequest.objects.filter(confirmation_code=code[:32]).first()
    if deletion is None:
        raise Http404("No such deletion request.")
    return render(request, "privacy/deletion_status.html", {"deletion": deletion})


def _conversation_for(request, pk: int) -> Conversation:
    if not request.user.has_perm(ERASE_PERMISSION):
        raise PermissionDenied("You need the permission to export and erase customers' data.")
    visible = scope(Conversation.objects.all(), request.user, "account")
    return get_object_or_404(visible, pk=pk)


@staff_member_required
@require_http_methods(["GET"])
def customer(request, pk: int):
    conversation = _conversation_for(request, pk)
    return _staff_page(request, "privacy/customer.html", {"conversation": conversation})


@staff_member_required
@require_GET
def customer_export(request, pk: int):
    conversation = _conversation_for(request, pk)
    data = erasure.customer_export(conversation)
    response = HttpResponse(
        json.dumps(data, ensure_ascii=False, indent=2), content_type="application/json"
    )
    name = f"customer-{conversation.instagram_account_id}-{conversation.customer_id}.json"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    logger.info("Customer data of conversation %s exported by %s", pk, request.user)
    return response


@staff_member_required
@require_POST
def customer_erase(request, pk: int):
    conversation = _conversation_for(request, pk)
    if request.POST.get("confirm") != "erase":
        # 400: erasing cannot be undone; the form's confirmation box was not ticked.
        return _staff_page(
            request,
            "privacy/customer.html",
            {"conversation": conversation, "problem": "Tick the box to confirm."},
            status=400,
        )
    counts = erasure.erase_customer(conversation)
    return _staff_page(request, "privacy/customer_erased.html", {"counts": dict(counts)})


def _staff_page(request, template: str, context: dict, status: int = 200):
    # The admin's look, title and user links around these pages.
    context = {**admin.site.each_context(request), "title": "A customer's data", **context}
    return render(request, template, context, status=status)
