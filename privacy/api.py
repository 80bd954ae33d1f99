"""/api/customers/<conversation id>/export and /erase: a customer's data, as in the inbox."""

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import permissions, serializers, status
from rest_framework.decorators import api_view, permission_classes
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from accounts.access import scope
from messaging.models import Conversation
from privacy import erasure
from privacy.views import ERASE_PERMISSION


def _conversation(request, pk: int) -> Conversation:
    if not request.user.has_perm(ERASE_PERMISSION):
        raise PermissionDenied("You need the permission to export and erase customers' data.")
    return get_object_or_404(scope(Conversation.objects.all(), request.user, "account"), pk=pk)


@extend_schema(responses=OpenApiTypes.OBJECT, summary="Export a customer's data (JSON)")
@api_view(["GET"])
@permission_classes([permissions.IsAdminUser])
def export_customer(request, pk: int):
    # 200: everything held about the conversation's customer.
    return Response(erasure.customer_export(_conversation(request, pk)))


@extend_schema(
    request=inline_serializer("EraseCustomer", {"confirm": serializers.CharField()}),
    responses=OpenApiTypes.OBJECT,
    summary="Erase a customer's data (send confirm: erase)",
)
@api_view(["POST"])
@permission_classes([permissions.IsAdminUser])
def erase_customer(request, pk: int):
    conversation = _conversation(request, pk)
    if request.data.get("confirm") != "erase":
        # 400: erasing cannot be undone; the caller must say so.
        return Response(
            {"confirm": 'Send "confirm": "erase" to erase this customer\'s data.'},
            status=status.HTTP_400_BAD_REQUEST,
        )
    # 200: what was deleted, by kind.
    return Response({"erased": dict(erasure.erase_customer(conversation))})
