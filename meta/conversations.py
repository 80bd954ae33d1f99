"""
Reading an account's history: Meta's Conversations API (2 calls/s per account; callers pace
themselves). Part of the one door to Meta: it talks to Meta through meta.graph's client and
raises its error types.
"""

import functools
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings

from meta.graph import MID_LENGTH, InstagramClient, PermanentGraphAPIError

logger = logging.getLogger(__name__)

# Message ids: meta.graph.MID_LENGTH (the column holds 255); other ids at most 64.
ID_LENGTH = 64

# Fields asked of each message: Meta returns details for a thread's newest messages only.
HISTORY_MESSAGE_FIELDS = "id,created_time,from,to,message,attachments"


@dataclass(frozen=True)
class ConversationSummary:
    """One thread of an account, as the Conversations API lists it (newest activity first)."""

    id: str
    updated_time: datetime


@dataclass(frozen=True)
class ConversationPage:
    conversations: tuple[ConversationSummary, ...]
    next_cursor: str = ""  # Meta's `paging.cursors.after`; empty on the last page


@dataclass(frozen=True)
class HistoryAttachment:
    type: str  # image, video, audio, file, share, story, ...
    url: str = ""  # a CDN link; it expires, so it is kept as a pointer


@dataclass(frozen=True)
class HistoryMessage:
    """One message of a thread, either way: the sender is `from_id` (the account or the
    customer). `id` is the message's mid, the same id its webhook carries."""

    id: str
    created_time: datetime
    from_id: str
    to_ids: tuple[str, ...]
    text: str = ""
    attachments: tuple[HistoryAttachment, ...] = ()


@dataclass(frozen=True)
class MessagePage:
    messages: tuple[HistoryMessage, ...]  # newest first, as Meta returns them
    next_cursor: str = ""


class HistoryClient(InstagramClient):
    """The Send API client, plus reading an account's threads and their messages."""

    def list_conversations(
        self, instagram_id: str, after: str = "", limit: int = 25
    ) -> ConversationPage:
        """One page of the account's Instagram threads, most recently active first."""
        params = {"platform": "instagram", "fields": "id,updated_time", "limit": limit}
        if after:
            params["after"] = after
        answer = self._request("GET", f"{instagram_id}/conversations", params=params)
        conversations = _readable(_data_items(answer, "conversations"), _summary, "conversation")
        return ConversationPage(conversations, _next_cursor(answer))

    def list_messages(self, conversation_id: str, after: str = "", limit: int = 20) -> MessagePage:
        """One page of a thread's messages, newest first (the edge form of messages{…})."""
        params = {"fields": HISTORY_MESSAGE_FIELDS, "limit": limit}
        if after:
            params["after"] = after
        answer = self._request("GET", f"{conversation_id}/messages", params=params)
        messages = _readable(_data_items(answer, "messages"), _history_message, "message")
        return MessagePage(messages, _next_cursor(answer))


def history_client_for(account) -> HistoryClient:
    """The Conversations API client for a stored account (its token, its API host)."""
    return _history_client(
        account.access_token,
        account.graph_api_base_url,
        settings.GRAPH_API_VERSION,
        settings.GRAPH_API_TIMEOUT,
    )


@functools.lru_cache(maxsize=16)
def _history_client(token: str, base_url: str, api_version: str, timeout: float) -> HistoryClient:
    return HistoryClient(token, base_url=base_url, api_version=api_version, timeout=timeout)


def _data_items(answer: dict, what: str) -> list:
    items = answer.get("data")
    if not isinstance(items, list):
        raise PermanentGraphAPIError(f"{what} answered without a data list")
    return items


def _readable(items: list, parse, what: str) -> tuple:
    """Each item parsed; one Meta answered unreadable is left out with a warning, never the
    page with it (one odd message must not stop a reconciliation pass or an import)."""
    readable = []
    for item in items:
        try:
            readable.append(parse(item))
        except (AttributeError, KeyError, TypeError, ValueError, OverflowError, OSError) as exc:
            logger.warning(
                "The Conversations API answered an unreadable %s, left out: %r", what, exc
            )
    return tuple(readable)


def _summary(item: dict) -> ConversationSummary:
    return ConversationSummary(id=_id(item["id"]), updated_time=_graph_time(item["updated_time"]))


def _id(value, max_length: int = ID_LENGTH) -> str:
    """An id as Meta names it (a string; a number from some tools), short enough to store."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value or len(value) > max_length:
        raise ValueError(f"not an id: {value!r:.80}")
    return value


def _text(value) -> str:
    return value if isinstance(value, str) else ""


def _next_cursor(answer: dict) -> str:
    # Meta gives `after` on the last page too; only `next` says that another page exists.
    paging = answer.get("paging") if isinstance(answer.get("paging"), dict) else {}
    if not paging.get("next"):
        return ""
    cursors = paging.get("cursors") if isinstance(paging.get("cursors"), dict) else {}
    return str(cursors.get("after") or "")


def _graph_time(value) -> datetime:
    """Graph times are ISO 8601 ("2024-05-01T12:00:00+0000"); some pages show Unix seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=UTC)
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return datetime.fromtimestamp(int(value), tz=UTC)
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z")


def _history_message(item: dict) -> HistoryMessage:
    sender = item.get("from") or {}
    recipients = (item.get("to") or {}).get("data") or []
    return HistoryMessage(
        id=_id(item["id"], MID_LENGTH),
        created_time=_graph_time(item["created_time"]),
        from_id=_id(sender["id"]),
        to_ids=tuple(_id(person["id"]) for person in recipients),
        text=_text(item.get("message")),
        attachments=tuple(
            _history_attachment(a) for a in (item.get("attachments") or {}).get("data") or []
        ),
    )


def _history_attachment(item: dict) -> HistoryAttachment:
    """Meta describes an attachment by which of its data fields is present."""
    for field, kind in (("image_data", "image"), ("video_data", "video")):
        if isinstance(item.get(field), dict):
            return HistoryAttachment(kind, _text(item[field].get("url")))
    if _text(item.get("file_url")):
        mime = _text(item.get("mime_type"))
        return HistoryAttachment("audio" if mime.startswith("audio/") else "file", item["file_url"])
    return HistoryAttachment(_text(item.get("type"))[:32] or "unknown", _text(item.get("url")))
