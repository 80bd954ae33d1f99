"""What /healthz says about reconciliation: when each account was last reconciled, what it
found missing, and whether its webhook subscription looks broken."""

from django.utils import timezone

from accounts.setup_check import Check
from history.models import AccountReconciliation
from messaging.models import Message


def reconciliation_health() -> tuple[dict, list[str]]:
    """(the accounts' reconciliation state by Instagram id, problems to report)."""
    now = timezone.now()
    accounts, problems = {}, []
    states = AccountReconciliation.objects.select_related("account").filter(account__is_active=True)
    for state in states:
        account_id = state.account.instagram_id
        last = state.last_reconciled_at
        accounts[account_id] = {
            "last_reconciled_seconds_ago": round((now - last).total_seconds(), 1) if last else None,
            "found_missing_last_pass": state.last_found,
            "found_missing_total": state.total_found,
            "subscription_suspect": state.subscription_suspect_since is not None,
        }
        if state.subscription_suspect_since:
            problems.append(
                f"account {account_id}: the webhook subscription is probably broken (messages "
                f"arrive only through reconciliation since "
                f"{state.subscription_suspect_since:%Y-%m-%d %H:%M} UTC)"
            )
    return accounts, problems


def webhook_health(account) -> dict:
    """For an account's setup check: when a customer message last came by webhook, and what
    reconciliation found that no webhook brought."""
    recent = (
        Message.objects.filter(conversation__account=account, direction=Message.Direction.INCOMING)
        .order_by("-created_at")
        .values_list("created_at", "details")[:500]
    )
    last_webhook = next((at for at, details in recent if "found_by" not in (details or {})), None)
    state = AccountReconciliation.objects.filter(account=account).first()
    return {
        "last_webhook_at": last_webhook,
        "last_reconciled_at": state.last_reconciled_at if state else None,
        "found_missing_total": state.total_found if state else 0,
        "subscription_suspect_since": state.subscription_suspect_since if state else None,
    }


def webhooks_arriving(account) -> Check:
    """The setup check's line on webhooks (registered from HistoryConfig.ready)."""
    name = "Webhooks arriving"
    health = webhook_health(account)
    last = health["last_webhook_at"]
    last_text = (
        f"Last customer message by webhook: {last:%Y-%m-%d %H:%M} UTC."
        if last
        else "No customer message has come by webhook yet."
    )
    if health["subscription_suspect_since"]:
        return Check(
            name,
            False,
            f"{last_text} Since {health['subscription_suspect_since']:%Y-%m-%d %H:%M} UTC, "
            "reconciliation keeps finding messages no webhook brought "
            f"({health['found_missing_total']} in all).",
            "Check the webhook fields above and the callback URL in Meta's App Dashboard.",
        )
    found = health["found_missing_total"]
    extra = (
        f" Reconciliation found {found} message(s) no webhook brought, but webhooks arrive."
        if found
        else ""
    )
    return Check(name, True, last_text + extra)
