"""`{% connection_banner %}`: Connect while no account exists, Reconnect for each account whose
token Meta refused, that expired or was deauthorized (the admin and the inbox)."""

from django import template
from django.db.models import Q
from django.utils import timezone

from accounts.access import accounts_visible_to
from accounts.connect import may_connect

register = template.Library()


@register.inclusion_tag("accounts/connection_banner.html", takes_context=True)
def connection_banner(context, offer_connect=True):
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"show": False}
    visible = accounts_visible_to(user)
    broken = visible.filter(
        Q(token_invalid_since__isnull=False) | Q(access_token_expires_at__lte=timezone.now())
    ).order_by("name")[:20]
    return {
        "show": True,
        "may_connect": may_connect(user),
        "no_account": offer_connect and not visible.exists(),
        "to_reconnect": list(broken),
    }
