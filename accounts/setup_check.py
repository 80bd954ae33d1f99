"""An account's setup check: each thing that must be right for messages to arrive and
replies to go out, with ok or the problem and how to fix it (the admin page and
`manage.py check_setup`)."""

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from accounts import requirements, services
from accounts.encryption import EncryptionKeyError
from accounts.models import InstagramBusinessAccount
from meta import graph, oauth

LOCAL_HOSTS = {"localhost", "127.0.0.1", "[::1]", "::1", "testserver"}


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    missing_fields: tuple[str, ...] = ()  # the webhook fields a button can subscribe


# Checks feature apps add from their AppConfig.ready (history: are webhooks arriving?):
# accounts sits below them and imports none.
_feature_checks: list[Callable[[InstagramBusinessAccount], Check]] = []


def register_check(check: Callable[[InstagramBusinessAccount], Check]) -> None:
    if check not in _feature_checks:
        _feature_checks.append(check)


def check_account(account: InstagramBusinessAccount) -> list[Check]:
    return [
        _token(account),
        _permissions(account),
        _webhook_fields(account),
        *(check(account) for check in _feature_checks),
    ]


def _token(account) -> Check:
    name = "Access token"
    if not account.has_access_token:
        return Check(
            name,
            False,
            "No token is stored.",
            "Connect the account (Connect an Instagram account).",
        )
    if account.needs_reconnect:
        why = account.token_check_result or "expired"
        return Check(name, False, f"Meta no longer accepts it: {why}", "Reconnect the account.")
    result = services.check_token(account)
    account.refresh_from_db()
    if not result.startswith("ok"):
        return Check(
            name,
            False,
            result,
            "Reconnect the account." if account.needs_reconnect else "Try again later.",
        )
    expires = account.access_token_expires_at
    if expires is None:
        when = "It does not expire."
    else:
        days = (expires - timezone.now()).days
        when = f"It expires {expires:%Y-%m-%d} ({days} days; the worker refreshes it before then)."
    return Check(name, True, f"Valid: {result.removeprefix('ok: ')}. {when}")


def _permissions(account) -> Check:
    name = "Permissions"
    granted = account.granted_permissions or []
    if not granted:
        return Check(
            name,
            False,
            "Not known: the token was pasted by hand, so Meta never said what it grants.",
            "Connect the account with the button to record its permissions.",
        )
    off = requirements.features_switched_off(account.api, granted)
    if not off:
        return Check(name, True, f"Granted: {', '.join(sorted(granted))}.")
    lines = [
        f"{permission} (switches off: {'; '.join(features)})"
        for permission, features in off.items()
    ]
    return Check(
        name,
        False,
        "Missing: " + ", ".join(lines) + ".",
        "Reconnect and allow every permission; for other people than the app's testers Meta "
        "must approve them first (App Review).",
    )


def _webhook_fields(account) -> Check:
    name = "Webhook fields"
    needed = requirements.webhook_fields(account.api)
    node = "me" if account.api == InstagramBusinessAccount.Api.INSTAGRAM_LOGIN else account.page_id
    if not node:
        return Check(
            name, False, "The account has no Facebook Page id.", "Reconnect with Facebook Login."
        )
    try:
        subscribed = oauth.subscribed_fields(account.access_token, account.graph_api_base_url, node)
    except (graph.GraphAPIError, EncryptionKeyError) as exc:
        return Check(name, False, f"Could not read them from Meta: {exc}", "Check the token first.")
    missing = tuple(field for field in needed if field not in subscribed)
    if missing:
        return Check(
            name,
            False,
            f"Subscribed: {', '.join(subscribed) or 'none'}. Missing: {', '.join(missing)}: "
            "Meta sends no webhook for those.",
            "Subscribe the missing fields.",
            missing,
        )
    return Check(name, True, f"Subscribed: {', '.join(subscribed)}.")


def callback_urls(request=None) -> list[dict]:
    """The URLs to paste into Meta's App Dashboard, for each public origin of the service."""
    origins = []
    if request is not None:
        origins.append(f"{request.scheme}://{request.get_host()}")
    origins += [o.rstrip("/") for o in settings.CSRF_TRUSTED_ORIGINS if "*" not in o]
    origins += [
        f"https://{host}"
        for host in settings.ALLOWED_HOSTS
        if "*" not in host and not host.startswith(".")
    ]
    public = []
    for origin in origins:
        if urlsplit(origin).hostname in LOCAL_HOSTS or origin in public:
            continue
        public.append(origin)
    paths = [
        ("Webhooks callback URL (Instagram, both logins)", reverse("instagram-webhook")),
        (
            "Instagram Login: OAuth redirect URI",
            reverse("accounts:connect-callback", args=[requirements.INSTAGRAM_LOGIN]),
        ),
        (
            "Facebook Login: Valid OAuth Redirect URI",
            reverse("accounts:connect-callback", args=[requirements.FACEBOOK_LOGIN]),
        ),
        ("Deauthorize callback URL", reverse("privacy:deauthorize")),
        ("Data deletion request URL", reverse("privacy:data-deletion")),
    ]
    return [
        {"origin": origin, "urls": [(label, origin + path) for label, path in paths]}
        for origin in public
    ]
