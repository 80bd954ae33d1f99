"""The fake Graph API's comment endpoints (devtools.fake_graph): private replies, public
replies, the account's media and its mentions, with the limits Meta enforces and the errors it
answers.

The fake knows a comment only if told (`POST /_fake/comments`, or FakeComments.add): its author
(whom the private reply goes to) and its age. An unknown comment is taken as fresh, by a
commenter whose id is made up from the comment's. A mention, too, only if told (`POST
/_fake/mentions`, or FakeComments.add_mention): reading or answering another is Meta's (#100).
"""

import re
import time
import uuid
from collections import deque
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

NODE_MESSAGES_PATH = re.compile(r"^/v[\d.]+/(?P<node>\w+)/messages$")
REPLIES_PATH = re.compile(r"^/v[\d.]+/(?P<comment_id>\d+)/replies$")
MEDIA_PATH = re.compile(r"^/v[\d.]+/(?P<ig_id>\w+)/media$")
MENTIONS_PATH = re.compile(r"^/v[\d.]+/(?P<ig_id>\w+)/mentions$")
IG_USER_PATH = re.compile(r"^/v[\d.]+/(?P<ig_id>\w+)$")
# `fields=mentioned_comment.comment_id(<id>){...}` or `mentioned_media.media_id(<id>){...}`
MENTIONED = re.compile(r"^mentioned_(?P<what>comment|media)\.(?P=what)_id\((?P<id>\w+)\)")

PRIVATE_REPLY_WINDOW = timedelta(days=7)
PRIVATE_REPLIES_PER_HOUR = 750

# Meta's answers, as (HTTP status, error object).
FAILURES = {
    "already_replied": (
        400,
        {
            "message": "(#10900) Activity already replied to",
            "type": "OAuthException",
            "code": 10900,
        },
    ),
    "comment_too_old": (
        400,
        {
            "message": "(#10903) This user can't reply to this activity",
            "type": "OAuthException",
            "code": 10903,
        },
    ),
    "comment_rate_limit": (
        400,
        {
            "message": "(#613) Calls to this api have exceeded the rate limit.",
            "type": "OAuthException",
            "code": 613,
        },
    ),
    "invalid_comment": (
        400,
        {
            "message": "(#100) Invalid parameter",
            "type": "OAuthException",
            "code": 100,
            "error_subcode": 33,
        },
    ),
    "unknown_mention": (
        400,
        {"message": "(#100) Invalid parameter", "type": "OAuthException", "code": 100},
    ),
}


class FakeComments:
    """What the fake knows of comments, and which have had their private reply."""

    def __init__(self):
        self.known: dict[str, dict] = {}
        self.privately_answered: set[str] = set()
        self.private_replies_sent: deque[float] = deque()
        self.per_hour = PRIVATE_REPLIES_PER_HOUR
        # Mentions of the account, by the mentioning comment's id (a caption's: its media's).
        self.mentions: dict[str, dict] = {}

    def add(self, comment: dict) -> None:
        self.known[str(comment["id"])] = {
            "author_id": str(comment.get("author_id") or ""),
            "created_at": time.time() - float(comment.get("age_days", 0)) * 86400,
            "live_ended": bool(comment.get("live_ended")),
        }

    def add_mention(self, mention: dict) -> None:
        comment_id, media_id = str(mention.get("comment_id") or ""), str(mention["media_id"])
        self.mentions[comment_id or media_id] = {
            "media_id": media_id,
            "comment_id": comment_id,
            "text": str(mention.get("text") or ""),
            "username": str(mention.get("username") or "someone.else"),
        }

    def answer(self, call: dict) -> tuple[str, dict]:
        """(outcome, answer): "sent" and Meta's answer, or the FAILURES kind Meta would give."""
        if call["kind"] == "mention_read":
            return self._read_mention(call["fields"])
        if call["kind"] == "mention_reply":
            return self._reply_to_mention(call)
        comment_id = call["comment_id"]
        if not comment_id.isdigit() or not call["text"]:
            return "invalid_comment", {}
        if call["kind"] == "public_reply":
            return "sent", {"id": str(int(time.time() * 1000)) + uuid.uuid4().hex[:6]}
        comment = self.known.get(comment_id) or {
            "author_id": "9" + comment_id[-15:],
            "created_at": time.time(),
            "live_ended": False,
        }
        if comment_id in self.privately_answered:
            return "already_replied", {}
        age = timedelta(seconds=time.time() - comment["created_at"])
        if age > PRIVATE_REPLY_WINDOW or comment["live_ended"]:
            return "comment_too_old", {}
        hour_ago = time.time() - 3600
        while self.private_replies_sent and self.private_replies_sent[0] < hour_ago:
            self.private_replies_sent.popleft()
        if len(self.private_replies_sent) >= self.per_hour:
            return "comment_rate_limit", {}
        self.privately_answered.add(comment_id)
        self.private_replies_sent.append(time.time())
        return "sent", {
            "recipient_id": comment["author_id"],
            "message_id": "aWdfZAG1fakeprivate" + uuid.uuid4().hex,
        }

    def _read_mention(self, fields: str) -> tuple[str, dict]:
        asked = MENTIONED.match(fields)
        mention = self.mentions.get(asked["id"]) if asked else None
        if mention is None or bool(mention["comment_id"]) != (asked["what"] == "comment"):
            return "unknown_mention", {}
        permalink = f"https://www.instagram.com/p/fake{mention['media_id'][-4:]}/"
        if asked["what"] == "media":
            return "read", {
                "mentioned_media": {
                    "id": mention["media_id"],
                    "caption": mention["text"],
                    "username": mention["username"],
                    "permalink": permalink,
                }
            }
        return "read", {
            "mentioned_comment": {
                "id": mention["comment_id"],
                "text": mention["text"],
                "username": mention["username"],
                "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000"),
                "media": {"id": mention["media_id"], "permalink": permalink},
            }
        }

    def _reply_to_mention(self, call: dict) -> tuple[str, dict]:
        mention = self.mentions.get(call["comment_id"] or call["media_id"])
        if not call["text"] or mention is None or mention["media_id"] != call["media_id"]:
            return "unknown_mention", {}
        return "sent", {"id": str(int(time.time() * 1000)) + uuid.uuid4().hex[:6]}


def mention_fields(path: str) -> str:
    """The `fields` of a read of the account's mentions (`GET /<version>/<ig-id>`), or ""."""
    node, _, query = path.partition("?")
    fields = parse_qs(query).get("fields", [""])[0]
    return fields if IG_USER_PATH.match(node) and fields.startswith("mentioned_") else ""


def describe_call(kind: str, body: dict, path: str) -> dict:
    if kind == "mention_read":
        return {"kind": kind, "fields": mention_fields(path), "received_at": time.time()}
    if kind == "mention_reply":
        text = body.get("message", "")
        return {
            "kind": kind,
            "node": MENTIONS_PATH.match(path.split("?")[0])["ig_id"],
            "media_id": str(body.get("media_id") or ""),
            "comment_id": str(body.get("comment_id") or ""),
            "text": text if isinstance(text, str) else "",
            "received_at": time.time(),
        }
    if kind == "private_reply":
        comment_id = str((body.get("recipient") or {}).get("comment_id", ""))
        text = (body.get("message") or {}).get("text", "")
        node = NODE_MESSAGES_PATH.match(path)["node"]
    else:
        comment_id, text, node = REPLIES_PATH.match(path)["comment_id"], body.get("message", ""), ""
    return {
        "kind": kind,
        "node": node,
        "comment_id": comment_id,
        "text": text if isinstance(text, str) else "",
        "received_at": time.time(),
    }


# The account's posts, newest first, as `GET /<ig-id>/media` lists them.
POSTS = [
    ("17895695668004550", "REELS", "VIDEO", "New winter jackets are in! Comment PRICE ❄️", 0),
    ("17895695668004549", "FEED", "IMAGE", "Our shop in Lyon, open Saturdays", 3),
    ("17895695668004548", "FEED", "CAROUSEL_ALBUM", "Autumn collection: 6 colours", 9),
]
COLOURS = ["#5b8def", "#e4a11b", "#3fa672"]


def media_list(base_url: str) -> dict:
    now = datetime.now(UTC)
    return {
        "data": [
            {
                "id": media_id,
                "caption": caption,
                "media_type": media_type,
                "media_product_type": product,
                "permalink": f"https://www.instagram.com/p/fake{media_id[-4:]}/",
                "thumbnail_url" if media_type == "VIDEO" else "media_url": (
                    f"{base_url}/_fake/thumbnail/{media_id}.svg"
                ),
                "timestamp": (now - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%S+0000"),
            }
            for media_id, product, media_type, caption, days in POSTS
        ],
        "paging": {"cursors": {"before": "QVFIUfake", "after": "QVFIUfake2"}},
    }


def post(path: str, base_url: str) -> dict | None:
    """`GET /<version>/<media-id>` for one of POSTS (other ids are not posts: None)."""
    media_id = path.rsplit("/", 1)[-1]
    return next((item for item in media_list(base_url)["data"] if item["id"] == media_id), None)


def thumbnail(path: str) -> bytes:
    media_id = path.rsplit("/", 1)[-1].removesuffix(".svg")
    colour = COLOURS[sum(map(ord, media_id)) % len(COLOURS)]
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="160" height="160">'
        f'<rect width="160" height="160" fill="{colour}"/>'
        '<text x="80" y="88" font-size="18" text-anchor="middle" fill="white">'
        f"…{media_id[-4:]}</text></svg>"
    ).encode()
