"""
Connecting an account: Meta's two logins (Instagram Login, Facebook Login), the token
exchanges, who connected, the Pages they manage, the permissions granted and the account's
webhook subscription. Part of the one door to Meta: Graph calls go through meta.graph's client
and raise its error types; the token endpoints' own error shape is mapped to them here.

Answers become the small dataclasses below, once; text from Meta is cleaned here (lone
surrogates, NUL), ids are strings of ASCII digits or the answer is refused.
"""

import logging
import re
from dataclasses import dataclass
from urllib.parse import urlencode

import requests
from django.conf import settings

from meta import cleaning
from meta.graph import (
    GraphAPIError,
    InstagramClient,
    PermanentGraphAPIError,
    TransientGraphAPIError,
)

logger = logging.getLogger(__name__)

INSTAGRAM_ME_FIELDS = "user_id,username,name,profile_picture_url,account_type"
PAGE_FIELDS = "id,name,access_token,instagram_business_account{id,username}"
# Professional accounts that may use the messaging API (a personal account cannot).
MESSAGING_ACCOUNT_TYPES = frozenset({"BUSINESS", "MEDIA_CREATOR"})

_DIGITS = re.compile(r"\A[0-9]{1,64}\Z")
# Text Meta sends about an account (a name, a username): what a column holds, at most.
_TEXT_MAX = 200


class AuthorizationRefused(PermanentGraphAPIError):
    """Meta refused the code or the app's credentials (used or expired code, a redirect_uri
    that differs, a wrong app secret): the person must authorize again."""


@dataclass(frozen=True)
class ShortLivedToken:
    access_token: str
    user_id: str  # the app-scoped id of the person (Instagram Login) or "" (Facebook Login)
    permissions: tuple[str, ...] = ()


@dataclass(frozen=True)
class LongLivedToken:
    access_token: str
    expires_in: int | None  # seconds; None: Meta did not say (Page tokens do not expire)


@dataclass(frozen=True)
class InstagramUser:
    """`/me` of an Instagram Login token."""

    app_scoped_id: str  # `id`: what deauthorize and data deletion callbacks carry
    instagram_id: str  # `user_id`: what webhooks carry in entry[].id
    username: str
    name: str
    account_type: str  # BUSINESS, MEDIA_CREATOR (or PERSONAL: cannot message)

    @property
    def can_message(self) -> bool:
        return self.account_type in MESSAGING_ACCOUNT_TYPES


@dataclass(frozen=True)
class FacebookUser:
    app_scoped_id: str
    name: str


@dataclass(frozen=True)
class Page:
    """A Facebook Page the person manages, with its linked Instagram account (if any)."""

    id: str
    name: str
    access_token: str
    instagram_id: str  # "" when no Instagram professional account is linked
    instagram_username: str


@dataclass(frozen=True)
class Permission:
    name: str
    granted: bool


def clean_text(value, max_length: int = _TEXT_MAX) -> str:
    """Text from Meta as a database stores it: a string, cleaned as every answer of Meta's is
    (meta.cleaning), cut to its column."""
    if not isinstance(value, str):
        return ""
    return cleaning.clean_text(value)[:max_length].strip()


def meta_id(value, what: str) -> str:
    """An id Meta sent as a number or a string, as ASCII digits; anything else is refused."""
    if isinstance(value, bool):
        value = None
    text = str(value) if isinstance(value, int | str) else ""
    if not _DIGITS.match(text):
        raise PermanentGraphAPIError(f"Meta's answer has no readable {what}")
    return text


def instagram_authorize_url(*, redirect_uri: str, scopes, state: str) -> str:
    """Where the browser goes for Instagram Login."""
    return _authorize_url(
        settings.INSTAGRAM_OAUTH_AUTHORIZE_URL,
        settings.INSTAGRAM_APP_ID,
        redirect_uri,
        scopes,
        state,
    )


def facebook_authorize_url(*, redirect_uri: str, scopes, state: str) -> str:
    """Where the browser goes for Facebook Login."""
    page, app_id = settings.FACEBOOK_OAUTH_DIALOG_URL, settings.FACEBOOK_APP_ID
    return _authorize_url(page, app_id, redirect_uri, scopes, state)


def _authorize_url(page: str, app_id: str, redirect_uri: str, scopes, state: str) -> str:
    query = {
        "client_id": app_id,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": ",".join(scopes),
        "state": state,
    }
    return f"{page}?{urlencode(query)}"


def exchange_instagram_code(code: str, redirect_uri: str) -> ShortLivedToken:
    """Instagram Login: the code for a short-lived token. The documented answer is wrapped in
    `data`, in practice it is often flat; ids come as numbers or strings, permissions as a
    comma string or a list."""
    # Meta appends "#_" to the redirect; a browser drops the fragment, a pasted URL may not.
    code = code.removesuffix("#_")
    try:
        response = requests.post(
            settings.INSTAGRAM_OAUTH_TOKEN_URL,
            data={
                "client_id": settings.INSTAGRAM_APP_ID,
                "client_secret": settings.INSTAGRAM_APP_SECRET,
                "grant_type": "authorization_code",
                "redirect_uri": redirect_uri,
                "code": code,
            },
            timeout=settings.GRAPH_API_TIMEOUT,
        )
    except requests.RequestException as exc:
        raise TransientGraphAPIError(
            f"could not reach Instagram's token endpoint: {type(exc).__name__}"
        ) from None
    answer = _token_answer(response, secrets=(code, settings.INSTAGRAM_APP_SECRET))
    data = answer.get("data")
    if isinstance(data, list) and data and isinstance(data[0], dict):
        answer = data[0]
    token = answer.get("access_token")
    if not isinstance(token, str) or not token:
        raise PermanentGraphAPIError("Instagram's token endpoint answered without a token")
    return ShortLivedToken(
        access_token=token,
        user_id=meta_id(answer.get("user_id"), "user id"),
        permissions=_permission_names(answer.get("permissions")),
    )


def exchange_facebook_code(code: str, redirect_uri: str) -> ShortLivedToken:
    """Facebook Login: the code for a (short-lived) user token. The app authenticates with
    its secret: no token exists yet."""
    params = {
        "client_id": settings.FACEBOOK_APP_ID,
        "client_secret": settings.FACEBOOK_APP_SECRET,
        "redirect_uri": redirect_uri,
        "code": code,
    }
    url = f"{settings.GRAPH_API_BASE_URL}/{settings.GRAPH_API_VERSION}/oauth/access_token"
    try:
        response = requests.get(url, params=params, timeout=settings.GRAPH_API_TIMEOUT)
    except requests.RequestException as exc:
        raise TransientGraphAPIError(
            f"could not reach Facebook's token endpoint: {type(exc).__name__}"
        ) from None
    answer = _token_answer(response, secrets=(code, settings.FACEBOOK_APP_SECRET))
    token = answer.get("access_token")
    if not isinstance(token, str) or not token:
        raise PermanentGraphAPIError("Facebook's token endpoint answered without a token")
    return ShortLivedToken(access_token=token, user_id="")


def instagram_long_lived(short: ShortLivedToken) -> LongLivedToken:
    """Instagram Login: the short-lived token for a 60-day one (server side only)."""
    answer = OAuthClient(short.access_token, settings.INSTAGRAM_GRAPH_API_BASE_URL).get(
        "access_token",
        versioned=False,
        params={
            "grant_type": "ig_exchange_token",
            "client_secret": settings.INSTAGRAM_APP_SECRET,
            "access_token": short.access_token,
        },
        refused=AuthorizationRefused,
    )
    return _long_lived(answer)


def facebook_long_lived(short: ShortLivedToken) -> LongLivedToken:
    """Facebook Login: the user token for a long-lived one; Page tokens read with it do not
    expire."""
    answer = OAuthClient(short.access_token, settings.GRAPH_API_BASE_URL).get(
        "oauth/access_token",
        params={
            "grant_type": "fb_exchange_token",
            "client_id": settings.FACEBOOK_APP_ID,
            "client_secret": settings.FACEBOOK_APP_SECRET,
            "fb_exchange_token": short.access_token,
        },
        refused=AuthorizationRefused,
    )
    return _long_lived(answer)


def instagram_me(token: str) -> InstagramUser:
    answer = OAuthClient(token, settings.INSTAGRAM_GRAPH_API_BASE_URL).get(
        "me", params={"fields": INSTAGRAM_ME_FIELDS}
    )
    return InstagramUser(
        app_scoped_id=meta_id(answer.get("id"), "app-scoped id"),
        instagram_id=meta_id(answer.get("user_id"), "Instagram id"),
        username=clean_text(answer.get("username"), 64),
        name=clean_text(answer.get("name")),
        account_type=clean_text(answer.get("account_type"), 32).upper(),
    )


def facebook_me(token: str) -> FacebookUser:
    answer = OAuthClient(token, settings.GRAPH_API_BASE_URL).get("me", params={"fields": "id,name"})
    return FacebookUser(meta_id(answer.get("id"), "user id"), clean_text(answer.get("name")))


def facebook_pages(user_token: str) -> list[Page]:
    """The person's Pages (first 100), each with its token and linked Instagram account."""
    answer = OAuthClient(user_token, settings.GRAPH_API_BASE_URL).get(
        "me/accounts", params={"fields": PAGE_FIELDS, "limit": 100}
    )
    pages = []
    for item in _items(answer):
        linked = item.get("instagram_business_account")
        linked = linked if isinstance(linked, dict) else {}
        token = item.get("access_token")
        try:
            pages.append(
                Page(
                    id=meta_id(item.get("id"), "Page id"),
                    name=clean_text(item.get("name")),
                    access_token=token if isinstance(token, str) else "",
                    instagram_id=meta_id(linked["id"], "Instagram id") if linked else "",
                    instagram_username=clean_text(linked.get("username"), 64),
                )
            )
        except (PermanentGraphAPIError, KeyError):
            logger.warning("Skipped an unreadable Page in /me/accounts")
    return pages


def permissions(token: str, base_url: str) -> list[Permission]:
    """`/me/permissions` (Facebook Login tokens)."""
    answer = OAuthClient(token, base_url).get("me/permissions")
    return [
        Permission(clean_text(item.get("permission"), 100), item.get("status") == "granted")
        for item in _items(answer)
        if clean_text(item.get("permission"), 100)
    ]


def subscribed_fields(token: str, base_url: str, node: str = "me") -> list[str]:
    """The webhook fields this app is subscribed to for the account (`node`: "me" for an
    Instagram Login account, the Page id for Facebook Login)."""
    answer = OAuthClient(token, base_url).get(f"{node}/subscribed_apps")
    fields: list[str] = []
    ours = _our_app_ids()
    for app in _items(answer):
        # Only our app's row counts when the node lists several apps (and we know our ids).
        if ours and app.get("id") is not None and str(app.get("id")) not in ours:
            continue
        value = app.get("subscribed_fields")
        names = value if isinstance(value, list) else str(value or "").split(",")
        fields += [clean_text(name, 64) for name in names if clean_text(name, 64)]
    return sorted(set(fields))


def subscribe(token: str, base_url: str, fields, node: str = "me") -> None:
    """Subscribe this app to the account's webhooks with `fields`."""
    answer = OAuthClient(token, base_url).post(
        f"{node}/subscribed_apps", params={"subscribed_fields": ",".join(fields)}
    )
    if answer.get("success") is not True:
        raise PermanentGraphAPIError("subscribed_apps did not answer success")


class OAuthClient(InstagramClient):
    """The Graph client, with the plain GET and POST these calls need."""

    def __init__(self, token: str, base_url: str):
        super().__init__(
            token,
            base_url=base_url,
            api_version=settings.GRAPH_API_VERSION,
            timeout=settings.GRAPH_API_TIMEOUT,
        )

    def get(self, path: str, *, versioned: bool = True, params=None, refused=None) -> dict:
        return self._call("GET", path, versioned=versioned, params=params, refused=refused)

    def post(self, path: str, *, params=None) -> dict:
        return self._call("POST", path, versioned=True, params=params, refused=None)

    def _call(self, method, path, *, versioned, params, refused) -> dict:
        try:
            return self._request(method, path, versioned=versioned, params=params or {})
        except GraphAPIError as exc:
            # The token endpoints answer a used code, a wrong secret or a redirect_uri that
            # differs with HTTP 400 and codes (1, 100, 190) that elsewhere mean other things:
            # any refusal there means "authorize again". 5xx and throttling stay transient.
            status = getattr(exc, "status", None)
            if refused is None or status is None or not 400 <= status < 500 or status == 429:
                raise
            raise refused(_scrub(str(exc), (params or {}).values())) from None


def _scrub(text: str, secrets) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(str(secret), "[redacted]")
    return text


def _token_answer(response: requests.Response, secrets) -> dict:
    """A token endpoint's answer: Instagram's error shape, `{"error_type", "code",
    "error_message"}`, or Graph's `{"error": {...}}` (Facebook's)."""
    try:
        answer = cleaning.clean_answer(response.json())
    except (ValueError, RecursionError):  # not JSON, or nested past the parser's depth
        answer = None
    if response.status_code >= 500:
        raise TransientGraphAPIError(f"the token endpoint answered HTTP {response.status_code}")
    if not isinstance(answer, dict):
        raise PermanentGraphAPIError("the token endpoint answered no JSON object")
    error = answer.get("error") if isinstance(answer.get("error"), dict) else None
    if response.ok and error is None and "error_type" not in answer:
        return answer
    error = error or answer
    message = clean_text(error.get("error_message") or error.get("message"), 300) or "no message"
    raise AuthorizationRefused(
        _scrub(f"Meta refused the code (HTTP {response.status_code}): {message}", secrets)
    )


def _long_lived(answer: dict) -> LongLivedToken:
    token, expires_in = answer.get("access_token"), answer.get("expires_in")
    if not isinstance(token, str) or not token:
        raise PermanentGraphAPIError("the long-lived token exchange answered without a token")
    if isinstance(expires_in, bool) or not isinstance(expires_in, int) or expires_in <= 0:
        expires_in = None
    return LongLivedToken(token, min(expires_in, 10 * 365 * 86400) if expires_in else None)


def _permission_names(value) -> tuple[str, ...]:
    names = value if isinstance(value, list) else str(value or "").split(",")
    return tuple(sorted({clean_text(n, 100) for n in names if isinstance(n, str) and n.strip()}))


def _items(answer: dict) -> list[dict]:
    data = answer.get("data")
    return [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []


def _our_app_ids() -> set[str]:
    return {settings.INSTAGRAM_APP_ID, settings.FACEBOOK_APP_ID} - {""}
