"""The admin's setup check page for one account (InstagramBusinessAccountAdmin.get_urls)."""

import logging

from django.template.response import TemplateResponse

from accounts import connect, setup_check
from accounts.encryption import EncryptionKeyError
from meta import graph

logger = logging.getLogger(__name__)


def render_check(request, account, admin_context: dict) -> TemplateResponse:
    checks = setup_check.check_account(account)
    return TemplateResponse(
        request,
        "admin/accounts/instagrambusinessaccount/setup_check.html",
        {
            **admin_context,
            "title": f"Setup check: {account}",
            "account": account,
            "opts": account._meta,
            "original": account,
            "checks": checks,
            "all_ok": all(check.ok for check in checks),
            "callback_urls": setup_check.callback_urls(request),
        },
    )


def subscribe(account) -> str:
    try:
        fields = connect.subscribe_webhooks(account)
    except (graph.GraphAPIError, EncryptionKeyError) as exc:
        logger.warning("Account %s: subscribing webhooks failed: %s", account.instagram_id, exc)
        return f"{account}: Meta refused the subscription: {exc}"
    logger.info("Account %s: webhooks subscribed (%s)", account.instagram_id, ", ".join(fields))
    return f"{account}: subscribed to {', '.join(fields)}."
