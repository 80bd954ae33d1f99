"""The fake Graph API's inbox: the Conversations API over the messages it has "received" and
"sent", and webhooks it can drop, as Meta sometimes does.

Served by devtools.fake_graph.FakeGraphAPI (`fake.inbox`):
  GET /<version>/<IG_ID>/conversations?platform=instagram   threads, most recently active first,
        for every account the fake knows (its `account_id` and `account_ids`; the threads
        it holds are its `account_id`'s: the others' lists are empty); (#100) for any other;
        each account at its own pace (`rate_per_second`), as Meta paces each account
  GET /<version>/<CONVERSATION_ID>/messages                  a thread's messages, newest first
Both page with `limit` and `paging.cursors.after` (`paging.next` only when more follows), and
answer as Meta does when called faster than its pace (code 613) or when told to fail.

Control (JSON):
  POST /_fake/dm  {"sender": IGSID, "text": "...", "drop": true|false|null}
        a customer's DM: stored as Meta would, its webhook delivered, or dropped (null: the
        share set by drop_webhooks decides)
"""

import base64
import json
import logging
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import parse_qs

import requests

from devtools.simulation import new_mid, signed_headers

logger = logging.getLogger(__name__)

# Meta's answers when the Conversations API is called too fast (#613) or the app is over its
# limits (#4), or it has trouble (#2).
HISTORY_FAILURES = {
    "rate_limit": (
        400,
        {
            "message": "(#613) Calls to this api have exceeded the rate limit.",
            "type": "OAuthException",
            "code": 613,
        },
    ),
    "app_rate_limit": (
        400,
        {
            "message": "(#4) Application request limit reached",
            "type": "OAuthException",
            "code": 4,
            "is_transient": True,
        },
    ),
    "transient": (
        500,
        {"message": "An unexpected error has occurred.", "code": 2, "is_transient": True},
    ),
    "invalid_token": (
        401,
        {"message": "Error validating access token.", "type": "OAuthException", "code": 190},
    ),
}


# The span in which at most `rate_per_second` calls are taken.
WINDOW = 0.75


@dataclass
class FakeThread:
    id: str
    customer_id: str
    account_id: str = ""  # the business's side of the thread
    messages: list[dict] = field(default_factory=list)  # oldest first

    @property
    def updated_time(self) -> float:
        return self.messages[-1]["_at"] if self.messages else 0.0


def _graph_time(at: float) -> str:
    return datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _offset(cursor: str) -> int:
    try:
        return int(base64.urlsafe_b64decode(cursor.encode()).decode().split(":")[1])
    except (ValueError, IndexError):
        return -1


class FakeInbox:
    def __init__(
        self,
        fake,
        drop_webhooks: float = 0.0,
        rate_per_second: float = 2.0,
        seed: int = 0,
    ):
        self.fake = fake
        self.drop_webhooks = drop_webhooks
        # More calls than this within a second for one account are refused as Meta refuses
        # them (0: no limit); each account has its own pace, as at Meta.
        self.rate_per_second = rate_per_second
        self._recent_calls: dict[str, deque[float]] = {}  # by account
        self.threads: dict[str, FakeThread] = {}  # by customer id
        self.dropped: list[str] = []  # mids whose webhook was not delivered
        self.delivered: list[str] = []
        self.calls: list[dict] = []  # Conversations API calls: path, outcome
        self._deliver_when_read: set[str] = set()
        self._failures: deque[str] = deque()
        self._random = random.Random(seed)
        self._lock = threading.RLock()

    # --- the messages Meta holds ---

    def _thread(self, customer_id: str) -> FakeThread:
        if customer_id not in self.threads:
            thread_id = "aWdfZAG06" + base64.urlsafe_b64encode(customer_id.encode()).decode()
            self.threads[customer_id] = FakeThread(
                thread_id.rstrip("="), customer_id, self.fake.account_id
            )
        return self.threads[customer_id]

    def add(
        self,
        customer_id: str,
        text: str,
        *,
        outgoing: bool = False,
        mid: str = "",
        at: float | None = None,
        attachments: list[dict] | None = None,
    ) -> dict:
        """Store a message as Meta holds it (no webhook): a customer's, or the business's."""
        account_id = self.fake.account_id
        sender, recipient = (account_id, customer_id) if outgoing else (customer_id, account_id)
        message = {
            "id": mid or new_mid(),
            "_at": time.time() if at is None else at,
            "from": {"id": sender, "username": f"user_{sender[-4:]}"},
            "to": {"data": [{"id": recipient, "username": f"user_{recipient[-4:]}"}]},
            "message": text,
        }
        if attachments:
            message["attachments"] = {"data": attachments}
        with self._lock:
            thread = self._thread(customer_id)
            thread.messages.append(message)
            thread.messages.sort(key=lambda m: m["_at"])
        return message

    def record_sent(self, recipient_id: str, text: str, mid: str) -> None:
        """A message the Send API accepted is in the thread too."""
        self.add(recipient_id, text, outgoing=True, mid=mid)

    def receive_dm(self, sender_id: str, text: str, *, drop: bool | None = None, mid: str = ""):
        """A customer writes: Meta stores it, then delivers its webhook, or (drop) does not.
        Returns the mid."""
        message = self.add(sender_id, text, mid=mid)
        if drop is None:
            drop = self._random.random() < self.drop_webhooks
        if drop:
            with self._lock:
                self.dropped.append(message["id"])
        else:
            self.deliver(message["id"])
        return message["id"]

    def should_drop_echo(self, mid: str) -> bool:
        """The share of echoes Meta "loses" too."""
        if self.drop_webhooks and self._random.random() < self.drop_webhooks:
            with self._lock:
                self.dropped.append(mid)
            return True
        return False

    def deliver(self, mid: str) -> None:
        """Post the webhook of a stored customer message now (also: late, after a drop)."""
        message, _ = self._find(mid)
        body = json.dumps(
            {
                "object": "instagram",
                "entry": [
                    {
                        "id": self.fake.account_id,
                        "time": int(time.time() * 1000),
                        "messaging": [
                            {
                                "sender": {"id": message["from"]["id"]},
                                "recipient": {"id": message["to"]["data"][0]["id"]},
                                "timestamp": int(message["_at"] * 1000),
                                "message": {"mid": mid, "text": message["message"]},
                            }
                        ],
                    }
                ],
            },
            ensure_ascii=True,
        ).encode()
        requests.post(
            self.fake.echo_webhook_url,
            data=body,
            headers=signed_headers(body, self.fake.app_secret),
            timeout=10,
        ).raise_for_status()
        with self._lock:
            self.delivered.append(mid)

    def deliver_when_read(self, mid: str) -> None:
        """Deliver this message's webhook at the moment its thread is next read through the
        Conversations API: the webhook and reconciliation then race."""
        with self._lock:
            self._deliver_when_read.add(mid)

    def fail_next(self, kind: str, times: int = 1) -> None:
        if kind not in HISTORY_FAILURES:
            raise ValueError(f"unknown failure kind {kind!r}")
        with self._lock:
            self._failures.extend([kind] * times)

    def _find(self, mid: str) -> tuple[dict, FakeThread]:
        with self._lock:
            for thread in self.threads.values():
                for message in thread.messages:
                    if message["id"] == mid:
                        return message, thread
        raise KeyError(mid)

    # --- the Conversations API ---

    def answer(self, parts: list[str], query: str, authorized: bool) -> tuple[int, dict] | None:
        """The answer to GET /<version>/<parts...>, or None when it is not ours."""
        params = {key: values[0] for key, values in parse_qs(query).items()}
        if len(parts) == 2 and parts[1] == "conversations":
            serve = self._conversations
        elif len(parts) == 2 and parts[1] == "messages":
            serve = self._messages
        else:
            return None
        refusal = self._refusal(authorized, self._account_of(parts))
        with self._lock:
            self.calls.append(
                {"path": "/".join(parts), "after": params.get("after", ""), "outcome": "ok"}
            )
            if refusal:
                self.calls[-1]["outcome"] = refusal[1]["error"]["code"]
        if refusal:
            return refusal
        return serve(parts[0], params)

    def _account_of(self, parts: list[str]) -> str:
        """The account whose pace a call takes: the one named, or the thread's."""
        if parts[1] == "conversations":
            return parts[0]
        with self._lock:
            thread = next((t for t in self.threads.values() if t.id == parts[0]), None)
        return thread.account_id if thread else self.fake.account_id

    def _refusal(self, authorized: bool, account_id: str) -> tuple[int, dict] | None:
        with self._lock:
            kind = self._failures.popleft() if self._failures else None
            too_fast = self._too_fast(time.monotonic(), account_id)
        if kind is None and not authorized:
            kind = "invalid_token"
        if kind is None and too_fast:
            kind = "rate_limit"
        if kind is None:
            return None
        status, error = HISTORY_FAILURES[kind]
        return status, {"error": {**error, "fbtrace_id": "FakeTrace"}}

    def _too_fast(self, now: float, account_id: str) -> bool:
        # A sliding second, a quarter shorter for the network's jitter: a client pacing its
        # calls 1/rate apart is never refused, two clients ignoring each other are.
        recent = self._recent_calls.setdefault(account_id, deque())
        while recent and now - recent[0] >= WINDOW:
            recent.popleft()
        if self.rate_per_second and len(recent) >= self.rate_per_second:
            return True
        recent.append(now)
        return False

    def _conversations(self, account_id: str, params: dict) -> tuple[int, dict]:
        if account_id not in self.fake.known_accounts() or params.get("platform") != "instagram":
            return 400, {"error": {"message": "(#100) Invalid parameter", "code": 100}}
        with self._lock:
            threads = sorted(
                (t for t in self.threads.values() if t.account_id == account_id),
                key=lambda t: t.updated_time,
                reverse=True,
            )
            items = [{"id": t.id, "updated_time": _graph_time(t.updated_time)} for t in threads]
        return 200, self._page(items, params, limit=25)

    def _messages(self, conversation_id: str, params: dict) -> tuple[int, dict]:
        with self._lock:
            thread = next((t for t in self.threads.values() if t.id == conversation_id), None)
            if thread is None:
                return 400, {"error": {"message": "(#100) Unknown conversation", "code": 100}}
            newest_first = list(reversed(thread.messages))
            due = [m["id"] for m in newest_first if m["id"] in self._deliver_when_read]
            self._deliver_when_read -= set(due)
        for mid in due:
            self.deliver(mid)
        items = [
            {**{k: v for k, v in m.items() if k != "_at"}, "created_time": _graph_time(m["_at"])}
            for m in newest_first
        ]
        return 200, self._page(items, params, limit=20)

    def _page(self, items: list, params: dict, limit: int) -> dict:
        limit = int(params.get("limit") or limit)
        start = _offset(params["after"]) if params.get("after") else 0
        if start < 0:
            start = len(items)
        page = items[start : start + limit]
        paging = {"cursors": {"before": _cursor(start), "after": _cursor(start + len(page))}}
        if start + limit < len(items):
            paging["next"] = f"fake://next?after={_cursor(start + len(page))}"
        return {"data": page, "paging": paging}
