"""The fake Graph API's comment endpoints (devtools.fake_graph): private replies, public
replies and the account's media, with the limits Meta enforces and the errors it answers.

The fake knows a comment only if told (`POST /_fake/comments`, or FakeComments.add): its author
(whom the private reply goes to) and its age. An unknown comment is taken as fresh, by a
commenter whose id is made up from the comment's.
"""

import re
import time
import uuid
from collections import deque
from datetime import UTC, datetime, timedelta

NODE_MESSAGES_PATH = re.compile(r"^/v[\d.]+/(?P<node>\w+)/messages$")
REPLIES_PATH = re.compile(r"^/v[\d.]+/(?P<comment_id>\d+)/replies$")
MEDIA_PATH = re.compile(r"^/v[\d.]+/(?P<ig_id>\w+)/media$")

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
}


class FakeComments:
    """What the fake knows of comments, and which have had their private reply."""

    def __init__(self):
        self.known: dict[str, dict] = {}
        self.privately_answered: set[str] = set()
        self.private_replies_sent: deque[float] = deque()
        self.per_hour = PRIVATE_REPLIES_PER_HOUR

    def add(self, comment: dict) -> None:
        self.known[str(comment["id"])] = {
            "author_id": str(comment.get("author_id") or ""),
            "created_at": time.time() - float(comment.get("age_days", 0)) * 86400,
            "live_ended": bool(comment.get("live_ended")),
        }

    def answer(self, call: dict) -> tuple[str, dict]:
        """(outcome, answer): "sent" and Meta's answer, or the FAILURES kind Meta would give."""
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


def describe_call(kind: str, body: dict, path: str) -> dict:
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
