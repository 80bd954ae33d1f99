"""
The one door to Meta's Graph API.

Only this module talks to Meta. It decides which failures are transient (retry later) and which
are permanent (give up, with a reason); callers catch the exception types below and never read a
Graph error code. Access tokens travel in the Authorization header, never in a URL, and never
appear in an exception message or a log line.
"""

import functools
import http.cookiejar
import logging
import os
from dataclasses import dataclass

import requests
from django.conf import settings

from meta import cleaning, mentions, messages, profile
from meta.mentions import MentionedComment, MentionedMedia

logger = logging.getLogger(__name__)
# Meta's message ids are about 100 characters; a message's column holds 255.
MID_LENGTH = 255

# Meta's error codes that mean "try again later": temporary (1, 2) and throttling
# (4 app-level, 17 user-level, 32 page-level, 613 calls within a time window).
RATE_LIMIT_ERROR_CODES = frozenset({4, 17, 32, 613})
TRANSIENT_ERROR_CODES = frozenset({1, 2}) | RATE_LIMIT_ERROR_CODES
# Codes that will not get better by retrying: 10 (permission; with subcode 2534022 the
# 24-hour window has closed), 100 (invalid parameter, e.g. no matching user), 551 (the person
# is not available).
PERMANENT_ERROR_CODES = frozenset({10, 100, 551})
# The access token is invalid or expired: nothing sent with it will work until it is replaced.
INVALID_TOKEN_ERROR_CODE = 190
# Private replies: (#10900) "Activity already replied to" (one private reply per comment), and
# (#10903) "This user can't reply to this activity" (past the 7 days, a Live that ended); in a
# private reply, "outside of allowed window" (10 with subcode 2534022) says the same.
ALREADY_REPLIED_ERROR_CODE = 10900
CANNOT_REPLY_ERROR_CODE = 10903
OUTSIDE_WINDOW = (10, 2534022)


# Connections kept alive per Graph API host by one client, which the outbox's sender shares
# between its threads (one each).
KEPT_ALIVE_CONNECTIONS = 10


class GraphAPIError(Exception):
    """A Send API call failed. str() is a reason fit for logs and for staff."""


class TransientGraphAPIError(GraphAPIError):
    """Network trouble, a timeout, a 5xx or throttling: the same call may work later."""


class RateLimitedError(TransientGraphAPIError):
    """Meta is throttling this account (or app): slow down, then try again."""


class PermanentGraphAPIError(GraphAPIError):
    """Meta refused the call for a reason retrying will not change."""


class InvalidTokenError(PermanentGraphAPIError):
    """The access token is invalid or expired: a credentials problem for a human to fix."""


class AlreadyRepliedError(PermanentGraphAPIError):
    """The comment has had its one private reply already."""


class CommentTooOldError(PermanentGraphAPIError):
    """Meta no longer takes a private reply to this comment (7 days; Live: the broadcast)."""


_INSTAGRAM = {"platform": "instagram"}
_PROFILE_FIELDS = ("ice_breakers", "persistent_menu")


@dataclass(frozen=True)
class SentMessage:
    recipient_id: str
    message_id: str


def _sent(answer: dict) -> SentMessage:
    """The Send API's yes. Meta said yes without saying what it sent, or with an id no message
    can store: permanent, since retrying could send it twice."""
    message_id = answer.get("message_id")
    if not isinstance(message_id, str) or not message_id:
        raise PermanentGraphAPIError("Send API answered without a message_id")
    if len(message_id) > MID_LENGTH:
        raise PermanentGraphAPIError(f"Send API answered a message_id over {MID_LENGTH} characters")
    return SentMessage(recipient_id=str(answer.get("recipient_id", "")), message_id=message_id)


MEDIA_FIELDS = (
    "id,caption,media_type,media_product_type,permalink,thumbnail_url,media_url,timestamp"
)


@dataclass(frozen=True)
class Media:
    """One of the account's posts or reels, as its media list gives it."""

    id: str
    caption: str = ""
    media_type: str = ""  # IMAGE, VIDEO, CAROUSEL_ALBUM
    media_product_type: str = ""  # FEED, REELS, STORY, AD
    permalink: str = ""
    thumbnail_url: str = ""  # Meta's CDN: it expires, link it, never store it
    timestamp: str = ""  # ISO 8601, as Meta sends it


@dataclass(frozen=True)
class RefreshedToken:
    access_token: str
    expires_in: int  # seconds


@dataclass(frozen=True)
class UserProfile:
    username: str
    name: str = ""


class InstagramClient:
    def __init__(self, access_token: str, *, base_url: str, api_version: str, timeout: float):
        self._access_token = access_token
        self._host = base_url.rstrip("/")
        self._base_url = f"{self._host}/{api_version}"
        self._timeout = timeout
        # One session per client: connections to Meta are kept alive between sends, up to
        # KEPT_ALIVE_CONNECTIONS per host for the sender's threads sharing the client. Its
        # only other state, cookies, is refused: Meta's API sets none we need, and threads
        # then share nothing but urllib3's pool (thread-safe).
        self._session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_maxsize=KEPT_ALIVE_CONNECTIONS)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        self._session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        # The environment's proxy and CA bundle settings, read once here rather than on every
        # call (requests looks them up per request, which cost more than the rest of a send).
        self._session.proxies = requests.utils.get_environ_proxies(self._host)
        self._session.verify = (
            os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        )
        self._session.trust_env = False

    def send_message(
        self, recipient_id: str, message: "str | messages.Outgoing", *, human_agent: bool = False
    ) -> SentMessage:
        """Send a DM: text, or any shape of meta.messages. `human_agent`: a person answers
        after the 24-hour window, within 7 days (the HUMAN_AGENT tag; never the bot's).
        Raises a GraphAPIError subclass if it was not accepted."""
        if isinstance(message, str):
            message = messages.Text(message)
        body = {"recipient": {"id": recipient_id}, "message": message.to_graph()}
        if human_agent:
            body.update(messaging_type="MESSAGE_TAG", tag="HUMAN_AGENT")
        return _sent(self._post("me/messages", body))

    def send_private_reply(self, node_id: str, comment_id: str, text: str) -> SentMessage:
        """The one DM Meta allows in answer to a comment. `node_id`: the Facebook Page's id
        (Facebook Login) or the Instagram account's (Instagram Login)."""
        try:
            answer = self._post(
                f"{node_id}/messages",
                {"recipient": {"comment_id": comment_id}, "message": {"text": text}},
            )
        except PermanentGraphAPIError as exc:
            if (getattr(exc, "code", None), getattr(exc, "subcode", None)) == OUTSIDE_WINDOW:
                raise CommentTooOldError(str(exc)) from None
            raise
        return _sent(answer)

    def send_sender_action(self, recipient_id: str, action: str) -> None:
        """`typing_on`, `typing_off` or `mark_seen` in the customer's thread."""
        if action not in messages.SENDER_ACTIONS:
            raise ValueError(f"unknown sender action {action!r}")
        self._post("me/messages", {"recipient": {"id": recipient_id}, "sender_action": action})

    def set_messenger_profile(self, wanted: profile.MessengerProfile) -> None:
        """Replace the account's ice breakers and persistent menu with `wanted`'s; a part
        it leaves empty is deleted at Meta, so what Meta has is what we have."""
        body = wanted.to_graph()
        if len(body) > 1:
            self._request("POST", "me/messenger_profile", params=_INSTAGRAM, json=body)
        empty = [name for name in _PROFILE_FIELDS if name not in body]
        if empty:
            self._request(
                "DELETE", "me/messenger_profile", params=_INSTAGRAM, json={"fields": empty}
            )

    def get_messenger_profile(self) -> profile.MessengerProfile:
        """The ice breakers and persistent menu as Meta has them now."""
        answer = self._request(
            "GET",
            "me/messenger_profile",
            params={**_INSTAGRAM, "fields": ",".join(_PROFILE_FIELDS)},
        )
        data = answer.get("data")
        first = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else {}
        return profile.profile_from_graph(first)

    def reply_to_comment(self, comment_id: str, text: str) -> str:
        """Post a public reply under a comment; returns the reply's own comment id."""
        answer = self._post(f"{comment_id}/replies", {"message": text})
        reply_id = answer.get("id")
        if not isinstance(reply_id, str) or not reply_id:
            raise PermanentGraphAPIError("the comment reply answered without an id")
        return reply_id

    def get_mentioned_comment(self, instagram_id: str, comment_id: str) -> MentionedComment:
        """The comment (on anyone's media) that @mentioned the account `instagram_id`."""
        params = {"fields": mentions.comment_fields(comment_id)}
        try:
            return mentions.comment_from_graph(self._request("GET", instagram_id, params=params))
        except mentions.UnreadableMention as exc:
            raise PermanentGraphAPIError(str(exc)) from None

    def get_mentioned_media(self, instagram_id: str, media_id: str) -> MentionedMedia:
        """The media (anyone's) whose caption @mentioned the account `instagram_id`."""
        params = {"fields": mentions.media_fields(media_id)}
        try:
            answer = self._request("GET", instagram_id, params=params)
            return mentions.media_from_graph(answer, media_id)
        except mentions.UnreadableMention as exc:
            raise PermanentGraphAPIError(str(exc)) from None

    def reply_to_mention(self, instagram_id: str, media_id: str, comment_id: str, text: str) -> str:
        """Answer a mention in public: under the mentioning comment, or (no `comment_id`: a
        caption mention) on the media. Returns the new comment's id."""
        body = {"media_id": media_id, "message": text}
        if comment_id:
            body["comment_id"] = comment_id
        answer = self._post(f"{instagram_id}/mentions", body)
        reply_id = answer.get("id")
        if not isinstance(reply_id, str) or not reply_id:
            raise PermanentGraphAPIError("the mention reply answered without an id")
        return reply_id

    def list_media(self, instagram_id: str, limit: int = 25) -> list[Media]:
        """The account's newest posts and reels, newest first."""
        answer = self._request(
            "GET",
            f"{instagram_id}/media",
            params={"fields": MEDIA_FIELDS, "limit": limit},
        )
        items = answer.get("data")
        if not isinstance(items, list):
            raise PermanentGraphAPIError("the media list answered without data")
        return [_media(item) for item in items if isinstance(item, dict) and item.get("id")]

    def get_media(self, media_id: str) -> Media:
        """One post or reel of the account."""
        answer = self._request("GET", media_id, params={"fields": MEDIA_FIELDS})
        if not answer.get("id"):
            raise PermanentGraphAPIError("the media answered without an id")
        return _media(answer)

    def check_token(self) -> str:
        """Who the token speaks for ("name (id)"); raises a GraphAPIError if Meta refuses it."""
        answer = self._request("GET", "me", params={"fields": "id,name,username"})
        who = answer.get("username") or answer.get("name") or "?"
        return f"{who} ({answer.get('id', '?')})"

    def refresh_instagram_token(self) -> RefreshedToken:
        """Exchange a long-lived Instagram Login token for a fresh one (60 more days)."""
        # Meta's endpoint is unversioned and takes the token as a query parameter.
        answer = self._request(
            "GET",
            "refresh_access_token",
            versioned=False,
            params={"grant_type": "ig_refresh_token", "access_token": self._access_token},
        )
        token, expires_in = answer.get("access_token"), answer.get("expires_in")
        if not isinstance(token, str) or not token or not isinstance(expires_in, int):
            raise PermanentGraphAPIError("refresh_access_token answered without a token")
        return RefreshedToken(token, expires_in)

    def get_user_profile(self, user_id: str) -> UserProfile:
        """A customer's public profile (Instagram's User Profile API, for people who DM'd us)."""
        answer = self._request("GET", user_id, params={"fields": "name,username"})
        return UserProfile(username=_text(answer, "username"), name=_text(answer, "name"))

    def _post(self, path: str, payload: dict) -> dict:
        return self._request("POST", path, json=payload)

    def _request(self, method: str, path: str, *, versioned: bool = True, **kwargs) -> dict:
        if not self._access_token:
            raise InvalidTokenError("no access token is configured for this account")
        base = self._base_url if versioned else self._host
        try:
            response = self._session.request(
                method,
                f"{base}/{path}",
                headers={"Authorization": f"Bearer {self._access_token}"},
                timeout=self._timeout,
                **kwargs,
            )
        except requests.Timeout:
            raise TransientGraphAPIError(
                f"Graph API did not answer within {self._timeout:g} s"
            ) from None
        except requests.RequestException as exc:
            raise TransientGraphAPIError(
                f"could not reach the Graph API: {type(exc).__name__}"
            ) from None
        return self._read_answer(response)

    def _read_answer(self, response: requests.Response) -> dict:
        try:
            # Cleaned as webhook deliveries are, once, here: no text read from Meta (an error's
            # message included) reaches the database with a lone surrogate or a NUL.
            data = cleaning.clean_answer(response.json())
        except (ValueError, RecursionError):  # not JSON, or nested past the parser's depth
            data = None
        error = data.get("error") if isinstance(data, dict) else None
        if response.ok and isinstance(data, dict) and error is None:
            return data
        raise self._classify(response.status_code, error if isinstance(error, dict) else {})

    def _classify(self, status: int, error: dict) -> GraphAPIError:
        code = error.get("code")
        subcode = error.get("error_subcode")
        codes = "-" if code is None else str(code)
        if subcode is not None:
            codes += f"/{subcode}"
        reason = f"Graph API error {codes} (HTTP {status}): {error.get('message') or 'no message'}"
        if error.get("fbtrace_id"):
            reason += f" [fbtrace_id {error['fbtrace_id']}]"
        reason = self._scrub(reason)
        exc = self._error_type(status, code, error)(reason)
        # For this module's own finer mapping (send_private_reply); callers use the type.
        exc.code, exc.subcode, exc.status = code, subcode, status
        return exc

    @staticmethod
    def _error_type(status: int, code, error: dict) -> type[GraphAPIError]:
        if code == INVALID_TOKEN_ERROR_CODE:
            return InvalidTokenError
        if code == ALREADY_REPLIED_ERROR_CODE:
            return AlreadyRepliedError
        if code == CANNOT_REPLY_ERROR_CODE:
            return CommentTooOldError
        if code in RATE_LIMIT_ERROR_CODES or status == 429:
            return RateLimitedError
        if code in TRANSIENT_ERROR_CODES or error.get("is_transient") is True:
            return TransientGraphAPIError
        if code in PERMANENT_ERROR_CODES:
            return PermanentGraphAPIError
        if status >= 500:
            return TransientGraphAPIError
        return PermanentGraphAPIError

    def _scrub(self, text: str) -> str:
        # Meta's messages do not normally quote the token, but a log line is no place to find out.
        return text.replace(self._access_token, "[token]") if self._access_token else text


def _text(item: dict, key: str) -> str:
    """A text field of an answer ("" when Meta left it out or sent something else)."""
    value = item.get(key)
    return value if isinstance(value, str) else ""


def _media(item: dict) -> Media:
    def text(key: str) -> str:
        return _text(item, key)

    return Media(
        id=str(item["id"]),
        caption=text("caption"),
        media_type=text("media_type"),
        media_product_type=text("media_product_type"),
        permalink=text("permalink"),
        # Videos have a thumbnail; images are their own.
        thumbnail_url=text("thumbnail_url") or text("media_url"),
        timestamp=text("timestamp"),
    )


def client_for(account) -> InstagramClient:
    """The client for a stored account (its token, its API host), or for the environment's
    single account (INSTAGRAM_PAGE_ACCESS_TOKEN) when `account` is None. Shared per process."""
    if account is None:
        token, base_url = settings.INSTAGRAM_PAGE_ACCESS_TOKEN, settings.GRAPH_API_BASE_URL
    else:
        token, base_url = account.access_token, account.graph_api_base_url
    return _client(token, base_url, settings.GRAPH_API_VERSION, settings.GRAPH_API_TIMEOUT)


@functools.lru_cache(maxsize=16)
def _client(token: str, base_url: str, api_version: str, timeout: float) -> InstagramClient:
    return InstagramClient(token, base_url=base_url, api_version=api_version, timeout=timeout)


# The Send API takes at most 1000 bytes of UTF-8 text per message.
MAX_TEXT_BYTES = 1000


def split_text(text: str, limit: int = MAX_TEXT_BYTES) -> list[str]:
    """Split `text` into messages of at most `limit` UTF-8 bytes each.

    Cuts fall between characters, never inside one, and at the last whitespace of a chunk
    when there is one in its second half, so words stay whole where they can.
    """
    parts = []
    rest = text.strip()
    while len(rest.encode()) > limit:
        # The longest prefix that fits: drop the bytes past the limit, then any partial
        # character left at the end of the cut.
        chunk = rest.encode()[:limit].decode(errors="ignore")
        if not chunk:
            raise ValueError(f"a limit of {limit} bytes cannot hold the character {rest[0]!r}")
        space = max(chunk.rfind(" "), chunk.rfind("\n"))
        if space > len(chunk) // 2:
            chunk = chunk[:space]
        parts.append(chunk.strip())
        rest = rest[len(chunk) :].strip()
    if rest:
        parts.append(rest)
    return parts
