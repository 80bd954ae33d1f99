"""
Meta's side of connecting an account, for the fake Graph API (devtools.fake_graph).

Instagram Login: `GET /oauth/authorize` (a page with Allow and Cancel), `POST
/oauth/access_token` (the code for a short-lived token; Instagram's own error shape),
`GET /access_token?grant_type=ig_exchange_token` (a long-lived one), `GET /<v>/me`.
Facebook Login: `GET /<v>/dialog/oauth`, `GET /<v>/oauth/access_token` (the code, or
`fb_exchange_token`), `GET /<v>/me`, `/<v>/me/accounts`, `/<v>/me/permissions`.
Both: `GET/POST /<v>/<node>/subscribed_apps`. Codes are single-use and bound to their
redirect_uri and app; a wrong secret, a used code or another redirect_uri gets Meta's error.

Control: `POST /_fake/oauth` {"account_type": "PERSONAL", "username": "...", "instagram_id":
"...", "answer_shape": "flat"|"data", "permissions_as_list": true, "declined": [...]} sets how
the next logins answer; `GET /_fake/oauth` shows the codes, tokens and subscriptions.
"""

import html
import re
import secrets
import threading
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode

VERSIONED = re.compile(r"^/v[\d.]+/(?P<rest>.*)$")
INSTAGRAM_SCOPES = (
    "instagram_business_basic",
    "instagram_business_manage_messages",
    "instagram_business_manage_comments",
)
FACEBOOK_SCOPES = (
    "pages_show_list",
    "pages_manage_metadata",
    "pages_messaging",
    "instagram_basic",
    "instagram_manage_messages",
    "instagram_manage_comments",
    "pages_read_engagement",
    "business_management",
)


def _ig_error(message: str) -> tuple[int, dict]:
    return 400, {"error_type": "OAuthException", "code": 400, "error_message": message}


def _graph_error(message: str, code: int = 100, subcode: int | None = None, status=400):
    error = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "FakeOAuth"}
    if subcode is not None:
        error["error_subcode"] = subcode
    return status, {"error": error}


_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:28em;margin:3em auto;padding:0 1em}"
    "button{font-size:1.1em;padding:.6em 1.4em;margin:.3em;border-radius:8px}"
    ".allow{background:#0095f6;color:#fff;border:0}.cancel{background:#eee;border:1px solid #ccc}"
    "code{overflow-wrap:anywhere}"
)
INVALID_TOKEN = _graph_error("Error validating access token: Session has expired.", 190)


@dataclass
class LoginSettings:
    """Who logs in next, and how Meta's answers are shaped."""

    instagram_id: str = "17841400000000001"
    app_scoped_id: str = "26000000000000001"
    username: str = "fake.business"
    name: str = "Fake business"
    account_type: str = "BUSINESS"
    answer_shape: str = "data"  # "data": as documented; "flat": as often seen
    permissions_as_list: bool = False
    declined: list[str] = field(default_factory=list)
    facebook_user_id: str = "10000000000000007"
    pages: list[dict] = field(
        default_factory=lambda: [
            {
                "id": "100000000000101",
                "name": "Fake Shop",
                "instagram": {"id": "17841400000000101", "username": "fake.shop"},
            },
            {
                "id": "100000000000102",
                "name": "Fake Café",
                "instagram": {"id": "17841400000000102", "username": "fake.cafe"},
            },
            {"id": "100000000000103", "name": "A Page without Instagram"},
        ]
    )


class FakeOAuth:
    def __init__(self, apps: dict[str, tuple[str, str]]):
        # {"instagram": (app id, secret), "facebook": (app id, secret)}
        self.apps = apps
        self.login = LoginSettings()
        self.codes: dict[str, dict] = {}
        self.tokens: dict[str, dict] = {}
        self.subscriptions: dict[str, list[str]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls) -> "FakeOAuth":
        from django.conf import settings

        return cls(
            {
                "instagram": (settings.INSTAGRAM_APP_ID, settings.INSTAGRAM_APP_SECRET),
                "facebook": (settings.FACEBOOK_APP_ID, settings.FACEBOOK_APP_SECRET),
            }
        )

    def configure(self, body: dict) -> None:
        with self._lock:
            for key, value in body.items():
                if hasattr(self.login, key):
                    setattr(self.login, key, value)

    def state(self) -> dict:
        with self._lock:
            return {
                "codes": self.codes,
                "tokens": {t: {k: v for k, v in d.items()} for t, d in self.tokens.items()},
                "subscriptions": self.subscriptions,
            }

    def webhook_secret_for(self, instagram_id: str) -> str:
        """The secret Meta signs this account's webhooks with: the Instagram app's once the
        account connected through Instagram Login, else "" (the caller's own)."""
        with self._lock:
            instagram_login = any(
                token["kind"] == "ig_long" and token["subject"].get("user_id") == instagram_id
                for token in self.tokens.values()
            )
        return self.apps["instagram"][1] if instagram_login else ""

    def revoke_all(self) -> None:
        """The person removed the app: every token stops working (190)."""
        with self._lock:
            for token in self.tokens.values():
                token["revoked"] = True

    # --- dispatch: each returns None when the path is not OAuth's -----------------------

    def answer(self, method: str, path: str, query: str, form: str, authorization: str):
        params = {k: v[0] for k, v in parse_qs(query).items()}
        posted = {k: v[0] for k, v in parse_qs(form).items()}
        token = authorization.removeprefix("Bearer ").strip() or params.get("access_token", "")
        if method == "GET" and path == "/oauth/authorize":
            return self._dialog("instagram", params)
        if method == "POST" and path == "/_fake/oauth/decide":
            return self._decide(posted)
        if method == "POST" and path == "/oauth/access_token":
            return self._instagram_code(posted)
        if method == "GET" and path == "/access_token":
            return self._instagram_long_lived(params)
        versioned = VERSIONED.match(path)
        if not versioned:
            return None
        rest = versioned["rest"]
        if method == "GET" and rest == "dialog/oauth":
            return self._dialog("facebook", params)
        if method == "GET" and rest == "oauth/access_token":
            return self._facebook_token(params)
        with self._lock:
            known = self.tokens.get(token)
        if known is None:
            return None  # not one of ours: the rest of the fake answers
        if known.get("revoked"):
            return ("json", *INVALID_TOKEN)
        if rest == "me" and method == "GET":
            return ("json", 200, self._me(known))
        if rest == "me/accounts" and method == "GET" and known["kind"] == "fb_user":
            return ("json", 200, {"data": self._pages(known)})
        if rest == "me/permissions" and method == "GET" and known["kind"] == "fb_user":
            return ("json", 200, {"data": self._permissions(known)})
        if rest.endswith("/subscribed_apps"):
            return ("json", *self._subscribed_apps(method, rest, known, params))
        return None

    # --- the login pages ----------------------------------------------------------------

    def _dialog(self, login: str, params: dict):
        app_id, _ = self.apps[login]
        if params.get("client_id") != app_id or not app_id:
            return ("html", 400, "<h1>Invalid app ID</h1><p>The app is not known.</p>")
        redirect_uri = params.get("redirect_uri", "")
        if not redirect_uri.startswith(("http://", "https://")):
            return ("html", 400, "<h1>Invalid redirect_uri</h1>")
        who = f"@{self.login.username}" if login == "instagram" else "your Facebook account"
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in {
                "login": login,
                "redirect_uri": redirect_uri,
                "state": params.get("state", ""),
                "client_id": app_id,
                "scope": params.get("scope", ""),
            }.items()
        )
        title = "Instagram" if login == "instagram" else "Facebook"
        page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} (fake): allow access</title>
<style>{_STYLE}</style></head>
<body><h1>{title} (fake)</h1><p>Allow this app to access {html.escape(who)}?</p>
<p>Permissions: <code>{html.escape(params.get("scope", ""))}</code></p>
<form method="post" action="/_fake/oauth/decide">{hidden}
<button class="allow" name="decision" value="allow" id="allow">Allow</button>
<button class="cancel" name="decision" value="cancel" id="cancel">Cancel</button>
</form></body></html>"""
        return ("html", 200, page)

    def _decide(self, posted: dict):
        redirect_uri = posted.get("redirect_uri", "")
        separator = "&" if "?" in redirect_uri else "?"
        if posted.get("decision") != "allow":
            # Meta's cancel: no code, and no state.
            query = {
                "error": "access_denied",
                "error_reason": "user_denied",
                "error_description": "Permissions error",
            }
            return ("redirect", f"{redirect_uri}{separator}{urlencode(query)}")
        code = "AQ" + secrets.token_urlsafe(24)
        with self._lock:
            self.codes[code] = {
                "login": posted.get("login", ""),
                "client_id": posted.get("client_id", ""),
                "redirect_uri": redirect_uri,
                "scope": posted.get("scope", ""),
                "used": False,
            }
        query = urlencode({"code": code, "state": posted.get("state", "")})
        suffix = "#_" if posted.get("login") == "instagram" else ""
        return ("redirect", f"{redirect_uri}{separator}{query}{suffix}")

    # --- token endpoints ------------------------------------------------------------------

    def _use_code(self, login: str, client_id: str, secret: str, redirect_uri: str, code: str):
        """The code's grant, or Meta's error (as a message and Graph's code/subcode)."""
        app_id, app_secret = self.apps[login]
        if client_id != app_id:
            return None, ("Invalid platform app", 101, None)
        if not secret or secret != app_secret:
            return None, ("Error validating client secret.", 1, None)
        with self._lock:
            grant = self.codes.get(code)
            if grant is None or grant["login"] != login:
                return None, ("Invalid verification code format.", 100, 36007)
            if grant["used"]:
                return None, ("This authorization code has been used.", 100, 36009)
            if grant["redirect_uri"] != redirect_uri:
                return None, (
                    "Error validating verification code. Please make sure your redirect_uri "
                    "is identical to the one you used in the OAuth dialog request",
                    100,
                    36008,
                )
            grant["used"] = True
        return grant, None

    def _instagram_code(self, posted: dict):
        if posted.get("grant_type") != "authorization_code":
            return ("json", *_ig_error("Invalid grant_type"))
        grant, error = self._use_code(
            "instagram",
            posted.get("client_id", ""),
            posted.get("client_secret", ""),
            posted.get("redirect_uri", ""),
            posted.get("code", ""),
        )
        if error:
            return ("json", *_ig_error(error[0]))
        granted = [s for s in grant["scope"].split(",") if s and s not in self.login.declined]
        token = self._issue("ig_short", login_as=self._instagram_subject())
        body = {
            "access_token": token,
            "user_id": int(self.login.app_scoped_id),
            "permissions": granted if self.login.permissions_as_list else ",".join(granted),
        }
        return ("json", 200, {"data": [body]} if self.login.answer_shape == "data" else body)

    def _instagram_long_lived(self, params: dict):
        if params.get("grant_type") != "ig_exchange_token":
            return None  # refresh_access_token and others: not ours
        _, app_secret = self.apps["instagram"]
        if params.get("client_secret") != app_secret:
            return ("json", *_graph_error("Error validating client secret.", 1))
        with self._lock:
            short = self.tokens.get(params.get("access_token", ""))
        if short is None or short["kind"] != "ig_short":
            return (
                "json",
                *_graph_error("Invalid OAuth access token - Cannot parse access token", 190),
            )
        token = self._issue("ig_long", login_as=short["subject"])
        return ("json", 200, {"access_token": token, "token_type": "bearer", "expires_in": 5183944})

    def _facebook_token(self, params: dict):
        if params.get("grant_type") == "fb_exchange_token":
            app_id, app_secret = self.apps["facebook"]
            if params.get("client_id") != app_id or params.get("client_secret") != app_secret:
                return ("json", *_graph_error("Error validating client secret.", 1))
            with self._lock:
                short = self.tokens.get(params.get("fb_exchange_token", ""))
            if short is None or short["kind"] != "fb_user":
                return ("json", *_graph_error("Invalid OAuth access token.", 190))
            token = self._issue("fb_user", login_as=short["subject"])
            return (
                "json",
                200,
                {"access_token": token, "token_type": "bearer", "expires_in": 5183944},
            )
        grant, error = self._use_code(
            "facebook",
            params.get("client_id", ""),
            params.get("client_secret", ""),
            params.get("redirect_uri", ""),
            params.get("code", ""),
        )
        if error:
            return ("json", *_graph_error(*error))
        granted = [s for s in grant["scope"].split(",") if s]
        token = self._issue(
            "fb_user", login_as={"user_id": self.login.facebook_user_id, "scopes": granted}
        )
        return ("json", 200, {"access_token": token, "token_type": "bearer", "expires_in": 5183})

    def _issue(self, kind: str, login_as: dict) -> str:
        prefix = {"ig_short": "IGAAs", "ig_long": "IGAAl", "fb_user": "EAAu", "page": "EAAp"}[kind]
        token = prefix + secrets.token_urlsafe(24)
        with self._lock:
            self.tokens[token] = {"kind": kind, "subject": login_as}
        return token

    def _instagram_subject(self) -> dict:
        login = self.login
        return {
            "id": login.app_scoped_id,
            "user_id": login.instagram_id,
            "username": login.username,
            "name": login.name,
            "account_type": login.account_type,
        }

    # --- Graph reads ---------------------------------------------------------------------

    def _me(self, token: dict) -> dict:
        subject = token["subject"]
        if token["kind"].startswith("ig_"):
            return {**subject, "profile_picture_url": "https://example.invalid/p.jpg"}
        if token["kind"] == "page":
            return {"id": subject["page_id"], "name": subject["name"]}
        return {"id": subject["user_id"], "name": "Fake Person"}

    def _pages(self, token: dict) -> list[dict]:
        pages = []
        for page in self.login.pages:
            page_token = self._issue(
                "page",
                login_as={"page_id": page["id"], "name": page["name"], "user": token["subject"]},
            )
            item = {"id": page["id"], "name": page["name"], "access_token": page_token}
            if page.get("instagram"):
                item["instagram_business_account"] = dict(page["instagram"])
            pages.append(item)
        return pages

    def _permissions(self, token: dict) -> list[dict]:
        return [
            {
                "permission": scope,
                "status": "declined" if scope in self.login.declined else "granted",
            }
            for scope in token["subject"].get("scopes", [])
        ]

    def _subscribed_apps(self, method: str, rest: str, token: dict, params: dict):
        node = rest.removesuffix("/subscribed_apps")
        if token["kind"] == "page":
            if node != token["subject"]["page_id"]:
                return _graph_error("(#210) A page access token is required for this call", 210)
            key = f"page:{node}"
        elif token["kind"].startswith("ig_") and node == "me":
            key = f"ig:{token['subject']['user_id']}"
        else:
            return _graph_error("(#100) Unsupported request", 100)
        if method == "POST":
            fields = [f for f in params.get("subscribed_fields", "").split(",") if f]
            if not fields:
                return _graph_error("(#100) The parameter subscribed_fields is required", 100)
            with self._lock:
                self.subscriptions[key] = fields
            return 200, {"success": True}
        with self._lock:
            fields = list(self.subscriptions.get(key, []))
        app_id = self.apps["facebook" if key.startswith("page:") else "instagram"][0]
        return 200, {
            "data": [{"id": app_id, "name": "instabot", "subscribed_fields": fields}]
            if fields
            else []
        }
