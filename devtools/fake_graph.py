"""
A small stand-in for Meta's Send API, served on 127.0.0.1.

It answers `POST /<version>/me/messages` the way Meta does (`recipient_id`, `message_id`),
`GET /<version>/<IGSID>` with a made-up profile, `GET /<version>/me` and Instagram Login's
`GET /refresh_access_token` with made-up answers, can
be told to fail the next calls in the ways Meta fails, records every call, and can post the
echo Meta sends after each message back to our webhook. The demo and the end-to-end tests point
GRAPH_API_BASE_URL at it; nothing in production code knows it exists.

Beyond text (devtools.fake_messages): quick replies, button and generic templates, media,
the HUMAN_AGENT tag and sender actions are checked against Meta's limits and refused with its
(#100) errors; `GET/POST/DELETE /<version>/me/messenger_profile` keep each token's ice
breakers and persistent menu.

Comments (devtools.fake_comments): `POST /<version>/<node>/messages` with a `comment_id`
recipient (a private reply: one per comment, within 7 days, at most PRIVATE_REPLIES_PER_HOUR),
`POST /<version>/<comment-id>/replies` (a public reply), `GET /<version>/<ig-id>/media` (the
account's posts), `GET /<version>/<ig-id>?fields=mentioned_comment...|mentioned_media...` and
`POST /<version>/<ig-id>/mentions` (a mention, read and answered), each failing with Meta's
own errors.

Control endpoints (JSON):
  POST /_fake/fail   {"kind": "<one of FAILURES or 'timeout'>", "times": 1, "seconds": 15}
  POST /_fake/comments {"id": "...", "author_id": "...", "age_days": 0, "live_ended": false}
  POST /_fake/mentions {"media_id": "...", "comment_id": "" (a caption), "text": "...",
                        "username": "..."}
  GET  /_fake/calls  every Send API call received so far
  POST /_fake/reset  forget calls and planned failures
Connecting an account (Meta's login pages, token endpoints, /me, /me/accounts,
/me/permissions, subscribed_apps) and its controls: devtools/fake_oauth.py.
The Conversations API (history) and its controls: devtools/fake_conversations.py.
"""

import logging
import re
import threading
import time
import uuid

import requests

from devtools import fake_comments, fake_messages
from devtools.fake_conversations import FakeInbox
from devtools.fake_http import FakeServer, JsonHandler
from devtools.fake_oauth import FakeOAuth
from devtools.simulation import message_delivery, signed_headers

logger = logging.getLogger(__name__)

SEND_PATH = re.compile(r"^/v[\d.]+/me/messages$")
PROFILE_PATH = re.compile(r"^/v[\d.]+/(?P<user_id>\d+)$")
ME_PATH = re.compile(r"^/v[\d.]+/me$")

FAILURES = {**fake_messages.SEND_FAILURES, **fake_comments.FAILURES}
# Form posts of connecting an account: Instagram's token endpoint, the fake login's buttons.
OAUTH_FORM_POSTS = ("/oauth/access_token", "/_fake/oauth/decide")


class FakeGraphAPI(FakeServer):
    FAILURE_KINDS = frozenset({*FAILURES, "timeout"})

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        echo_webhook_url: str = "",
        app_secret: str = "",
        account_id: str = "",
        account_ids: tuple[str, ...] = (),
        drop_webhooks: float = 0.0,
        oauth: FakeOAuth | None = None,
    ):
        self.echo_webhook_url = echo_webhook_url
        self.app_secret = app_secret
        self.account_id = account_id
        # Other Instagram accounts it answers for (the Conversations API), as Meta answers for
        # every account connected to the app: the benchmark's four, whose workers reconcile.
        self.account_ids = tuple(account_ids)
        # The Conversations API over what it received and sent; drops that share of webhooks.
        self.inbox = FakeInbox(self, drop_webhooks)
        self.comments = fake_comments.FakeComments()
        self.profiles = fake_messages.FakeProfiles()
        # Connecting accounts (devtools.fake_oauth): the app ids and secrets of the settings.
        self.oauth = oauth or FakeOAuth.from_settings()
        super().__init__(host, port, _handler_for(self))

    @property
    def base_url(self) -> str:
        return self.address

    def known_accounts(self) -> set[str]:
        return {self.account_id, *self.account_ids} - {""}

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self.comments = fake_comments.FakeComments()
            self.profiles = fake_messages.FakeProfiles()

    def _record(self, call: dict) -> None:
        with self._lock:
            self.calls.append(call)

    def _post_echo(
        self, recipient_id: str, text: str, mid: str, attachments: list | None = None
    ) -> None:
        if self.inbox.should_drop_echo(mid):
            return
        body = message_delivery(
            account_id=self.account_id,
            sender_id=self.account_id,
            recipient_id=recipient_id,
            text=text,
            mid=mid,
            is_echo=True,
            attachments=attachments,
        )
        try:
            requests.post(
                self.echo_webhook_url,
                data=body,
                headers=signed_headers(
                    body, self.oauth.webhook_secret_for(self.account_id) or self.app_secret
                ),
                timeout=10,
            )
        except requests.RequestException as exc:
            logger.warning("Fake Graph API could not post the echo of %s: %s", mid, exc)


def _error(kind: str) -> tuple[int, dict]:
    status, error = FAILURES[kind]
    return status, {"error": {**error, "fbtrace_id": "FakeTrace"}}


def _handler_for(fake: FakeGraphAPI):
    class Handler(JsonHandler):
        def do_GET(self):
            if self.path == "/_fake/calls":
                with fake._lock:
                    return self._json(200, list(fake.calls))
            path = self.path.split("?")[0]
            if path == "/_fake/oauth":
                return self._json(200, fake.oauth.state())
            if oauth := self._oauth("GET", ""):
                return oauth
            if ME_PATH.match(path):
                return self._json(
                    200,
                    {
                        "id": fake.account_id or "17841400000000001",
                        "name": "Fake business",
                        "username": "fake.business",
                    },
                )
            if path == "/refresh_access_token":
                return self._json(
                    200,
                    {
                        "access_token": "IGQVJfake" + uuid.uuid4().hex,
                        "token_type": "bearer",
                        "expires_in": 5184000,
                    },
                )
            if fake_comments.MEDIA_PATH.match(path):
                return self._json(200, fake_comments.media_list(fake.base_url))
            if fake_comments.mention_fields(self.path):
                return self._answer_comment_call("mention_read", {}, self.path)
            if post := fake_comments.post(path, fake.base_url):
                return self._json(200, post)
            if path.startswith("/_fake/thumbnail/"):
                return self._raw(200, fake_comments.thumbnail(path), "image/svg+xml")
            if fake_messages.PROFILE_PATH.match(path):
                return self._json(*self._profile("GET", {}))
            if history := fake.inbox.answer(
                path.split("/")[2:], self.path.partition("?")[2], self._authorized()
            ):
                return self._json(*history)
            if profile := PROFILE_PATH.match(path):
                user_id = profile["user_id"]
                return self._json(
                    200,
                    {
                        "id": user_id,
                        "username": f"customer_{user_id[-4:]}",
                        "name": f"Customer {user_id[-4:]}",
                    },
                )
            return self._json(404, {"error": {"message": "Unknown path", "code": 100}})

        def do_POST(self):
            path = self.path.split("?")[0]
            if path in OAUTH_FORM_POSTS:
                length = int(self.headers.get("Content-Length") or 0)
                form = self.rfile.read(length).decode(errors="replace")
                return self._oauth("POST", form) or self._json(404, {"error": "?"})
            if path.endswith("/subscribed_apps") and (oauth := self._oauth("POST", "")):
                return oauth
            body = self._read_json()
            if path == "/_fake/oauth":
                fake.oauth.configure(body)
                return self._json(200, {"ok": True})
            if path == "/_fake/oauth/revoke":
                fake.oauth.revoke_all()
                return self._json(200, {"ok": True})
            if self.path == "/_fake/fail":
                try:
                    fake.fail_next(
                        body.get("kind", ""),
                        int(body.get("times", 1)),
                        float(body.get("seconds", 15)),
                    )
                except (ValueError, TypeError) as exc:
                    return self._json(400, {"error": str(exc)})
                return self._json(200, {"ok": True})
            if self.path == "/_fake/dm":
                mid = fake.inbox.receive_dm(
                    str(body.get("sender", "")), str(body.get("text", "")), drop=body.get("drop")
                )
                return self._json(200, {"mid": mid})
            if self.path == "/_fake/reset":
                fake.reset()
                return self._json(200, {"ok": True})
            if self.path == "/_fake/comments":
                fake.comments.add(body)
                return self._json(200, {"ok": True})
            if self.path == "/_fake/mentions":
                fake.comments.add_mention(body)
                return self._json(200, {"ok": True})
            path = self.path.split("?")[0]
            if fake_comments.NODE_MESSAGES_PATH.match(path) and "comment_id" in (
                body.get("recipient") or {}
            ):
                return self._answer_comment_call("private_reply", body, path)
            if fake_comments.REPLIES_PATH.match(path):
                return self._answer_comment_call("public_reply", body, path)
            if fake_comments.MENTIONS_PATH.match(path):
                return self._answer_comment_call("mention_reply", body, path)
            if SEND_PATH.match(path):
                return self._send_message(body)
            if fake_messages.PROFILE_PATH.match(path):
                return self._json(*self._profile("POST", body))
            return self._json(404, {"error": {"message": "Unknown path", "code": 100}})

        def do_DELETE(self):
            body = self._read_json()
            if fake_messages.PROFILE_PATH.match(self.path.split("?")[0]):
                return self._json(*self._profile("DELETE", body))
            return self._json(404, {"error": {"message": "Unknown path", "code": 100}})

        def _oauth(self, method: str, form: str):
            """Meta's login pages, token endpoints and account reads (devtools.fake_oauth);
            None when the call is not one of those."""
            path, _, query = self.path.partition("?")
            answer = fake.oauth.answer(
                method, path, query, form, self.headers.get("Authorization", "")
            )
            if answer is None:
                return None
            if answer[0] == "redirect":
                self.send_response(302)
                self.send_header("Location", answer[1])
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif answer[0] == "html":
                self._raw(answer[1], answer[2].encode(), "text/html; charset=utf-8")
            else:
                self._json(answer[1], answer[2])
            return True

        def _profile(self, method: str, body: dict) -> tuple[int, dict]:
            if not self._authorized():
                return _error("invalid_token")
            token = self.headers.get("Authorization", "")
            fake._record({"profile": method, "body": body})
            with fake._lock:
                return fake.profiles.answer(method, token, body, self.path.partition("?")[2])

        def _send_message(self, body: dict):
            authorization = self.headers.get("Authorization", "")
            recipient_id = str((body.get("recipient") or {}).get("id", ""))
            message = body.get("message") if isinstance(body.get("message"), dict) else {}
            text = message.get("text", "")
            call = {
                "recipient_id": recipient_id,
                "text": text,
                "received_at": time.time(),
                "authorized": authorization.startswith("Bearer ") and len(authorization) > 7,
            }
            # What else it asked, for tests to see (the message's shape, a tag, an action).
            call.update(
                {
                    key: body[key]
                    for key in ("sender_action", "tag", "messaging_type")
                    if key in body
                }
            )
            if set(message) - {"text"}:
                call["message"] = message
            failure = fake._next_failure()
            if failure and failure["kind"] == "timeout":
                fake._record({**call, "outcome": "timeout"})
                time.sleep(failure["seconds"])
                return self._json(500, {"error": {"message": "late", "code": 2}})
            if failure:
                status, error = FAILURES[failure["kind"]]
                fake._record({**call, "outcome": failure["kind"]})
                if error is None:
                    return self._raw(
                        status, b"<html><body>Service Unavailable</body></html>", "text/html"
                    )
                return self._json(status, {"error": {**error, "fbtrace_id": "FakeTrace"}})
            if not call["authorized"]:
                status, error = FAILURES["invalid_token"]
                fake._record({**call, "outcome": "invalid_token"})
                return self._json(status, {"error": error})
            refusal = (
                fake_messages.check_send(body)
                if recipient_id
                else fake_messages.invalid("Invalid parameter")
            )
            if refusal:
                fake._record({**call, "outcome": "invalid_parameter", "error": refusal[1]})
                return self._json(*refusal)
            if "sender_action" in body:
                fake._record({**call, "outcome": "sent"})
                return self._json(200, {"recipient_id": recipient_id})
            mid = "aWdfZAG1fakesent" + uuid.uuid4().hex
            fake._record({**call, "outcome": "sent", "message_id": mid})
            fake.inbox.record_sent(recipient_id, text, mid)
            self._json(200, {"recipient_id": recipient_id, "message_id": mid})
            if fake.echo_webhook_url:
                threading.Thread(
                    target=fake._post_echo,
                    args=(recipient_id, text, mid, fake_messages.echo_attachments(message)),
                    daemon=True,
                ).start()

        def _answer_comment_call(self, kind: str, body: dict, path: str):
            authorization = self.headers.get("Authorization", "")
            call = fake_comments.describe_call(kind, body, path)
            call["authorized"] = authorization.startswith("Bearer ") and len(authorization) > 7
            failure = fake._next_failure()
            if failure and failure["kind"] in FAILURES:
                status, error = FAILURES[failure["kind"]]
                fake._record({**call, "outcome": failure["kind"]})
                return self._json(status, {"error": {**(error or {}), "fbtrace_id": "FakeTrace"}})
            if not call["authorized"]:
                fake._record({**call, "outcome": "invalid_token"})
                return self._json(*_error("invalid_token"))
            with fake._lock:
                outcome, answer = fake.comments.answer(call)
                fake.calls.append({**call, "outcome": outcome, **answer})
            if outcome not in ("sent", "read"):
                return self._json(*_error(outcome))
            self._json(200, answer)
            if kind == "private_reply" and fake.echo_webhook_url:
                threading.Thread(
                    target=fake._post_echo,
                    args=(answer["recipient_id"], call["text"], answer["message_id"]),
                    daemon=True,
                ).start()

        def _authorized(self) -> bool:
            authorization = self.headers.get("Authorization", "")
            return authorization.startswith("Bearer ") and len(authorization) > 7

    return Handler
