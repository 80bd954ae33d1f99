"""Comments on the accounts' posts, the staff's rules for answering them, and the replies sent.

A comment is stored once (its id is unique) however often Meta delivers it. A reply is a row
written before its Graph call (CommentReply): at most one of each kind per comment, an outbox
row that messaging.outbox claims and sends under the account's hourly limits, across every worker.
"""

from comments.models.comment import PRIVATE_REPLY_WINDOW, Comment, CommentReply
from comments.models.mention import Mention, MentionReply
from comments.models.rule import (
    MAX_PRIVATE_REPLY_BYTES,
    MAX_PUBLIC_REPLY_CHARACTERS,
    CommentRule,
    Post,
)

__all__ = [
    "MAX_PRIVATE_REPLY_BYTES",
    "MAX_PUBLIC_REPLY_CHARACTERS",
    "PRIVATE_REPLY_WINDOW",
    "Comment",
    "CommentReply",
    "CommentRule",
    "Mention",
    "MentionReply",
    "Post",
]
