"""Meta's mentions of an account, read through the IG User node (meta.graph asks for them):
the fields asked for, and the answers as small dataclasses."""

from dataclasses import dataclass


class UnreadableMention(ValueError):
    """Meta's answer holds no mention (meta.graph makes it a permanent error)."""


@dataclass(frozen=True)
class MentionedComment:
    """A comment on someone's media that @mentions the account (IG User's mentioned_comment)."""

    id: str
    text: str = ""
    username: str = ""  # who wrote it
    timestamp: str = ""  # ISO 8601, as Meta sends it
    media_id: str = ""
    permalink: str = ""  # the media's


@dataclass(frozen=True)
class MentionedMedia:
    """Someone's media whose caption @mentions the account (IG User's mentioned_media)."""

    id: str
    caption: str = ""
    username: str = ""  # whose media it is
    permalink: str = ""


def comment_fields(comment_id: str) -> str:
    return (
        f"mentioned_comment.comment_id({comment_id})"
        "{id,text,username,timestamp,media{id,permalink}}"
    )


def media_fields(media_id: str) -> str:
    return f"mentioned_media.media_id({media_id}){{caption,permalink,username}}"


def comment_from_graph(answer: dict) -> MentionedComment:
    item = answer.get("mentioned_comment")
    if not isinstance(item, dict) or not item.get("id"):
        raise UnreadableMention("the mentioned comment answered without a comment")
    media = item.get("media") if isinstance(item.get("media"), dict) else {}
    return MentionedComment(
        id=str(item["id"]),
        text=_text(item, "text"),
        username=_text(item, "username"),
        timestamp=_text(item, "timestamp"),
        media_id=str(media.get("id") or ""),
        permalink=_text(media, "permalink"),
    )


def media_from_graph(answer: dict, media_id: str) -> MentionedMedia:
    item = answer.get("mentioned_media")
    if not isinstance(item, dict):
        raise UnreadableMention("the mentioned media answered without the media")
    return MentionedMedia(
        id=str(item.get("id") or media_id),
        caption=_text(item, "caption"),
        username=_text(item, "username"),
        permalink=_text(item, "permalink"),
    )


def _text(item: dict, key: str) -> str:
    value = item.get(key)
    return value if isinstance(value, str) else ""
