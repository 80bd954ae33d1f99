"""Connecting an account in a click: Meta's login, back on our callback, the account stored
with its long-lived token and its webhooks subscribed.

The `state` sent to Meta is bound to the staff user's session and used once; the
redirect_uri is built from the host the staff user is on and sent identically in the
exchange. Nothing is stored unless every step succeeds; refusals are logged without the code
or a token.
"""

import logging
import secrets
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts import encryption, requirements
from accounts.access import sees_all_accounts, visible_account_ids
from accounts.models import AccountAccess, InstagramBusinessAccount
from accounts.signals import account_reconnected
from meta import graph, oauth

logger = logging.getLogger(__name__)

SESSION_KEY = "accounts_connect"
ADD_PERMISSION = "accounts.add_instagrambusinessaccount"
LOGINS = {
    requirements.INSTAGRAM_LOGIN: "Instagram Login",
    requirements.FACEBOOK_LOGIN: "Facebook Login",
}
# How long a started authorization may take before its state is refused.
STATE_LIFETIME = timedelta(minutes=30)


class Refused(Exception):
    """The connect was refused; str() is what staff are told (no code, no token)."""

    status = 400


class NotAllowed(Refused):
    """The staff user may not connect accounts."""

    status = 403


@dataclass
class Connected:
    accounts: list[InstagramBusinessAccount] = field(default_factory=list)
    created: list[InstagramBusinessAccount] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # stored, but something to fix


@dataclass(frozen=True)
class PageChoice:
    """A Page of the person (Facebook Login) with the Instagram account linked to it."""

    page_id: str
    page_name: str
    instagram_id: str
    instagram_username: str


def may_connect(user) -> bool:
    return user.is_active and user.is_staff and user.has_perm(ADD_PERMISSION)


def is_configured(login: str) -> bool:
    if login == requirements.INSTAGRAM_LOGIN:
        return bool(settings.INSTAGRAM_APP_ID and settings.INSTAGRAM_APP_SECRET)
    return bool(settings.FACEBOOK_APP_ID and settings.FACEBOOK_APP_SECRET)


def callback_path(login: str) -> str:
    return reverse("accounts:connect-callback", args=[login])


def start(request, login: str) -> str:
    """Where to send the browser: Meta's authorize page, with a fresh state."""
    _require_permission(request.user)
    if login not in LOGINS:
        raise Refused("Unknown login.")
    if not is_configured(login):
        raise Refused(
            f"{LOGINS[login]} is not set up: see the README, “Connecting a real Instagram account”."
        )
    if not encryption.can_encrypt():
        raise Refused(
            "FIELD_ENCRYPTION_KEY is not set: the account's token could not be stored. Set it "
            "in the service's environment (see .env.example), then connect again."
        )
    state = secrets.token_urlsafe(32)
    redirect_uri = request.build_absolute_uri(callback_path(login))
    request.session[SESSION_KEY] = {
        "state": state,
        "login": login,
        "redirect_uri": redirect_uri,
        "started": timezone.now().timestamp(),
    }
    build = (
        oauth.instagram_authorize_url
        if login == requirements.INSTAGRAM_LOGIN
        else oauth.facebook_authorize_url
    )
    return build(redirect_uri=redirect_uri, scopes=requirements.scopes(login), state=state)


def finish(request, login: str) -> Connected | list[PageChoice]:
    """Meta's redirect back. Instagram Login: the account, stored. Facebook Login: the Pages'
    Instagram accounts to choose from (the choice is `connect_pages`)."""
    _require_permission(request.user)
    # Single use: whatever happens next, this state is spent.
    pending = request.session.pop(SESSION_KEY, None) or {}
    query = request.GET
    if query.get("error") or ("code" not in query and "state" not in query):
        # A cancel comes back with error=access_denied, and without our state.
        _log_refusal(request, login, f"authorization not given ({query.get('error', 'none')})")
        raise Refused("The authorization was cancelled at Meta: nothing was connected.")
    state = query.get("state", "")
    if (
        not pending.get("state")
        or not secrets.compare_digest(str(pending["state"]).encode(), state.encode())
        or pending.get("login") != login
        or timezone.now().timestamp() - float(pending.get("started", 0))
        > STATE_LIFETIME.total_seconds()
    ):
        _log_refusal(request, login, "unknown, expired or reused state")
        raise Refused(
            "This authorization is unknown, expired or was already used (the page may have "
            "been reloaded): nothing was connected. Start again."
        )
    code = query.get("code", "")
    if not code or len(code) > 2048 or not code.isprintable():
        _log_refusal(request, login, "no readable code")
        raise Refused("Meta sent no usable authorization code: nothing was connected.")
    try:
        if login == requirements.INSTAGRAM_LOGIN:
            return _finish_instagram(request, code, pending["redirect_uri"])
        return _finish_facebook(request, code, pending["redirect_uri"])
    except graph.GraphAPIError as exc:
        _log_refusal(request, login, str(exc))
        raise Refused(f"Meta refused the connection: {exc}. Nothing was connected.") from None


def page_choices(request) -> list[PageChoice]:
    """The Pages offered after a Facebook Login (read again from Meta)."""
    pending = _pending_pages(request)
    pages = oauth.facebook_pages(encryption.decrypt(pending["user_token"]))
    return [_choice(page) for page in pages if page.instagram_id]


def connect_pages(request, instagram_ids: list[str]) -> Connected:
    """Facebook Login: store the chosen Pages' Instagram accounts. Single use."""
    _require_permission(request.user)
    pending = _pending_pages(request)
    del request.session[SESSION_KEY]
    wanted = set(instagram_ids)
    if not wanted:
        raise Refused("No account was chosen: nothing was connected.")
    try:
        pages = oauth.facebook_pages(encryption.decrypt(pending["user_token"]))
    except graph.GraphAPIError as exc:
        _log_refusal(request, requirements.FACEBOOK_LOGIN, str(exc))
        raise Refused(f"Meta refused to list the Pages: {exc}. Nothing was connected.") from None
    chosen = [page for page in pages if page.instagram_id in wanted and page.access_token]
    if not chosen:
        raise Refused("None of the chosen accounts is linked to your Pages any more.")
    result, refused = Connected(), []
    for page in chosen:
        try:
            account, created, invalid_since = _store(
                request.user,
                instagram_id=page.instagram_id,
                api=InstagramBusinessAccount.Api.FACEBOOK_LOGIN,
                name=page.name or page.instagram_username,
                username=page.instagram_username,
                page_id=page.id,
                token=page.access_token,
                expires_at=None,  # a Page token from a long-lived user token does not expire
                app_scoped_user_id=pending["user_id"],
                permissions=pending["permissions"],
            )
        except NotAllowed as exc:
            refused.append(exc)
            continue
        _after_store(account, created, invalid_since, result)
    if refused and not result.accounts:
        raise refused[0]
    result.problems += [str(exc) for exc in refused]
    return result


def subscribe_webhooks(account: InstagramBusinessAccount) -> list[str]:
    """Subscribe the account's webhooks with every field the enabled features use; returns
    the fields. Raises a GraphAPIError."""
    fields = requirements.webhook_fields(account.api)
    if account.api == InstagramBusinessAccount.Api.INSTAGRAM_LOGIN:
        oauth.subscribe(account.access_token, account.graph_api_base_url, fields)
    else:
        oauth.subscribe(account.access_token, account.graph_api_base_url, fields, account.page_id)
    return fields


def _finish_instagram(request, code: str, redirect_uri: str) -> Connected:
    short = oauth.exchange_instagram_code(code, redirect_uri)
    long = oauth.instagram_long_lived(short)
    me = oauth.instagram_me(long.access_token)
    if not me.can_message:
        _log_refusal(request, requirements.INSTAGRAM_LOGIN, f"account type {me.account_type!r}")
        raise Refused(
            f"@{me.username} is a {me.account_type.lower() or 'personal'} account: only "
            "business and creator (professional) accounts can use messaging. Switch it to a "
            "professional account in Instagram's settings, then connect again."
        )
    expires = timezone.now() + timedelta(seconds=long.expires_in) if long.expires_in else None
    account, created, invalid_since = _store(
        request.user,
        instagram_id=me.instagram_id,
        api=InstagramBusinessAccount.Api.INSTAGRAM_LOGIN,
        name=me.name or me.username,
        username=me.username,
        page_id="",
        token=long.access_token,
        expires_at=expires,
        app_scoped_user_id=me.app_scoped_id,
        permissions=list(short.permissions),
    )
    result = Connected()
    _after_store(account, created, invalid_since, result)
    return result


def _finish_facebook(request, code: str, redirect_uri: str) -> list[PageChoice]:
    short = oauth.exchange_facebook_code(code, redirect_uri)
    long = oauth.facebook_long_lived(short)
    user = oauth.facebook_me(long.access_token)
    granted = [
        p.name
        for p in oauth.permissions(long.access_token, settings.GRAPH_API_BASE_URL)
        if p.granted
    ]
    pages = oauth.facebook_pages(long.access_token)
    # The user token waits in the session, encrypted, for the choice of Pages.
    request.session[SESSION_KEY] = {
        "login": requirements.FACEBOOK_LOGIN,
        "pages_state": secrets.token_urlsafe(16),
        "user_token": encryption.encrypt(long.access_token),
        "user_id": user.app_scoped_id,
        "permissions": granted,
        "started": timezone.now().timestamp(),
    }
    return [_choice(page) for page in pages if page.instagram_id]


def _store(
    user,
    *,
    instagram_id,
    api,
    name,
    username,
    page_id,
    token,
    expires_at,
    app_scoped_user_id,
    permissions,
):
    """Create the account or update the one with this Instagram id (history kept, token
    replaced). Returns (account, created, when its old token stopped working)."""
    with transaction.atomic():
        account, created = InstagramBusinessAccount.objects.select_for_update().get_or_create(
            instagram_id=instagram_id, defaults={"name": (name or instagram_id)[:200]}
        )
        if not created and not _may_reconnect(user, account):
            # Its conversations belong to whoever may see it; logging in at Meta does not
            # hand them to staff limited to other accounts.
            logger.warning(
                "Connect refused: %s may not reconnect account %s", user, account.instagram_id
            )
            raise NotAllowed(
                f"@{username or instagram_id} is already connected here, to an account you "
                "do not have access to: ask an administrator to reconnect it or to give you "
                "access."
            )
        invalid_since = None if created else _stopped_working_at(account)
        account.api = api
        account.username = username or account.username
        account.page_id = page_id if api == InstagramBusinessAccount.Api.FACEBOOK_LOGIN else ""
        # Connected through this service's app: its deliveries are signed with our secret.
        account.set_credentials(access_token=token, clear_app_secret_and_verify_token=True)
        account.access_token_expires_at = expires_at
        account.app_scoped_user_id = app_scoped_user_id
        account.connected_at = timezone.now()
        account.granted_permissions = sorted(set(permissions))
        account.save()
        if created and not sees_all_accounts(user):
            AccountAccess.objects.create(user=user, account=account)
    logger.info(
        "Account %s (@%s) %s with %s by %s",
        account.instagram_id,
        account.username,
        "connected" if created else "reconnected",
        account.get_api_display(),
        user,
    )
    return account, created, invalid_since


def _after_store(account, created, invalid_since, result: Connected) -> None:
    result.accounts.append(account)
    if created:
        result.created.append(account)
    if invalid_since is not None:
        account_reconnected.send(
            sender=InstagramBusinessAccount, account=account, invalid_since=invalid_since
        )
    try:
        subscribe_webhooks(account)
    except graph.GraphAPIError as exc:
        logger.warning("Account %s: webhooks not subscribed: %s", account.instagram_id, exc)
        result.problems.append(
            f"{account}: its webhooks could not be subscribed ({exc}). Open its setup check "
            "and subscribe them from there, or no message will arrive."
        )


def _may_reconnect(user, account: InstagramBusinessAccount) -> bool:
    ids = visible_account_ids(user)
    return ids is None or account.pk in ids


def _stopped_working_at(account: InstagramBusinessAccount):
    if account.token_invalid_since is not None:
        return account.token_invalid_since
    expires = account.access_token_expires_at
    if expires is not None and expires <= timezone.now():
        return expires
    return None


def _pending_pages(request) -> dict:
    pending = request.session.get(SESSION_KEY) or {}
    if pending.get("login") != requirements.FACEBOOK_LOGIN or "user_token" not in pending:
        raise Refused("There is no Facebook Login waiting for a choice of accounts: start again.")
    if timezone.now().timestamp() - float(pending["started"]) > STATE_LIFETIME.total_seconds():
        del request.session[SESSION_KEY]
        raise Refused("The choice of accounts waited too long: start again.")
    return pending


def _choice(page: oauth.Page) -> PageChoice:
    return PageChoice(page.id, page.name, page.instagram_id, page.instagram_username)


def _require_permission(user) -> None:
    if not may_connect(user):
        logger.warning("Connect refused: %s lacks the %s permission", user, ADD_PERMISSION)
        raise NotAllowed(
            "You may not connect accounts: that needs the permission to add Instagram "
            "business accounts. Ask an administrator."
        )


def _log_refusal(request, login: str, reason: str) -> None:
    # Never the code or a token: the reason comes from our own messages and Meta's (scrubbed).
    logger.warning(
        "Connect with %s refused for %s: %s", LOGINS.get(login, "?"), request.user, reason
    )
