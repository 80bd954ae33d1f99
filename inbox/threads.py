"""One open conversation in the inbox: its thread, the customer beside it, and what staff do
with it (assign, resolve, reopen, notes). Sending and pausing go through messaging.replies,
the same services the admin and the API use.
"""

from django.contrib.auth import get_user_model
from django.db.models import OuterRef, Q, Subquery
from django.shortcuts import get_object_or_404
from django.utils.text import Truncator

from accounts.access import ALL_ACCOUNTS_CODENAME, scope
from comments.models import Comment, CommentReply
from contacts.cards import contact_card
from inbox.listing import _iso, account_name, customer_name, visible_conversations
from inbox.models import Note, SavedReply
from knowledge import judging
from messaging import windows
from messaging.models import Conversation, Message
from meta.display import web_address

# How much of the comment a conversation began from the customer pane shows.
COMMENT_SHOWN_CHARACTERS = 5_000
# How many of the newest messages opening a conversation shows.
THREAD_LENGTH = 100
# At most this many new messages come with one update (the rest with the next).
UPDATE_LIMIT = 100

AUTHOR_LABELS = {
    Message.Author.CUSTOMER: "Customer",
    Message.Author.BOT: "Bot",
    Message.Author.BUSINESS_APP: "Staff (Instagram app)",
}


def conversation_or_404(user, pk) -> Conversation:
    """The conversation, if `user` may see it; another account's is "not found" (404)."""
    return get_object_or_404(
        visible_conversations(user).select_related("account", "assigned_to"), pk=pk
    )


def message_json(message: Message, knowledge=None) -> dict:
    """`knowledge`: the knowledge answer the message is, if any (knowledge.judging)."""
    if message.author == Message.Author.STAFF:
        who = f"{message.sent_by.get_username()} (inbox)" if message.sent_by else "Staff (inbox)"
    elif message.author == Message.Author.BOT and message.is_fallback:
        who = "Bot (fallback)"
    elif message.author == Message.Author.BOT and message.rule_id:
        who = "Bot (rule)"
    elif message.author == Message.Author.BOT and knowledge is not None:
        who = f"Bot ({judging.answer_json(knowledge)['label']})"
    else:
        who = AUTHOR_LABELS.get(message.author, message.author)
    return {
        "id": message.pk,
        "direction": message.direction,
        "author": message.author,
        "who": who,
        "text": message.text,
        "attachments": message.shown_attachments(),
        "is_deleted": message.is_deleted,
        "reaction": message.reaction,
        "status": message.status,
        "status_label": message.get_status_display() if message.status else "",
        "error": message.last_error if message.status == Message.Status.FAILED else "",
        "at": _iso(message.timestamp or message.created_at),
        # Buttons, quick replies, cards or media we sent, drawn as such (null: plain text).
        "sent": message.display(),
        # What the customer tapped, or the link or ad they came from ("" if nothing).
        "tap": message.tap(),
        # Answered from knowledge or by the assistant: which entries, and staff's verdict.
        "answered_from": judging.answer_json(knowledge),
    }


def _messages_json(messages: list[Message]) -> list[dict]:
    bot = [m.pk for m in messages if m.author == Message.Author.BOT]
    answers = judging.answers_for(bot) if bot else {}
    return [message_json(m, answers.get(m.pk)) for m in messages]


def thread(conversation: Conversation) -> list[dict]:
    return _messages_json(conversation.recent_messages(THREAD_LENGTH))


def thread_updates(conversation: Conversation, after: int, pending: list[int]) -> list[dict]:
    """Messages newer than id `after`, and the current state of the `pending` ones (still on
    their way when the page last looked): two queries, on indexed columns."""
    messages = conversation.messages.select_related("sent_by")
    new = list(messages.filter(id__gt=after).order_by("id")[:UPDATE_LIMIT])
    changed = list(messages.filter(id__in=pending[:UPDATE_LIMIT], id__lte=after)) if pending else []
    return _messages_json(changed + new)


def opening_comment(conversation: Conversation) -> Comment | None:
    """The comment whose private reply began this conversation (its first message), with its
    post; None if it began otherwise. Two queries at most."""
    first = (
        conversation.messages.order_by("created_at", "id").values_list("details", flat=True).first()
    )
    comment_id = (first or {}).get("private_reply_to_comment")
    if not comment_id:
        return None
    public = CommentReply.objects.filter(
        comment=OuterRef("pk"), kind=CommentReply.Kind.PUBLIC
    ).order_by("id")
    return (
        Comment.objects.select_related("post")
        # What was answered in public under it, in the same query.
        .annotate(
            public_reply_text=Subquery(public.values("text")[:1]),
            public_reply_status=Subquery(public.values("status")[:1]),
        )
        .filter(comment_id=comment_id)
        .first()
    )


def origin(conversation: Conversation, comment: Comment | None = None) -> str:
    """Where the customer came from: a comment on a post, an ad or a link (referral), a story;
    "" if unknown. `comment`: the opening comment, if the caller has looked it up already."""
    comment = comment or opening_comment(conversation)
    if comment is not None:
        return f"a comment on {_post_name(comment)}"
    first_messages = conversation.messages.filter(direction=Message.Direction.INCOMING).order_by(
        "created_at", "id"
    )[:20]
    for message in first_messages:
        details = message.details or {}
        if referral := details.get("referral"):
            source = (referral.get("source") or "").upper()
            kind = "an ad" if source == "ADS" else "a link"
            ref = f" (ref {referral['ref']})" if referral.get("ref") else ""
            return f"{kind}{ref}"
        if "reply_to_story" in details:
            return "a reply to a story"
    return ""


def _post_name(comment: Comment) -> str:
    if comment.is_live:
        return "a live broadcast"
    if comment.post and comment.post.caption:
        caption = comment.post.caption
        return f"“{caption[:40]}…”" if len(caption) > 40 else f"“{caption}”"
    return f"post {comment.media_id}" if comment.media_id else "a post"


def comment_json(comment: Comment | None) -> dict | None:
    if comment is None:
        return None
    post = comment.post
    public_status = getattr(comment, "public_reply_status", None)
    return {
        # A comment can be long (2 MB arrive); the card shows what a person reads.
        "text": Truncator(comment.text).chars(COMMENT_SHOWN_CHARACTERS),
        "author": f"@{comment.author_username}" if comment.author_username else comment.author_id,
        "at": _iso(comment.commented_at),
        "post": _post_name(comment),
        "permalink": web_address(post.permalink) if post else "",
        "thumbnail_url": web_address(post.thumbnail_url) if post else "",
        # What was answered under the comment, for everyone to see.
        "public_reply": (
            {
                "text": comment.public_reply_text,
                "status": CommentReply.Status(public_status).label,
            }
            if public_status
            else None
        ),
    }


def customer_card(conversation: Conversation) -> dict:
    comment = opening_comment(conversation)
    return {
        "customer": customer_name(conversation),
        "customer_id": conversation.customer_id,
        "account": account_name(conversation),
        "since": _iso(conversation.created_at),
        "origin": origin(conversation, comment),
        "comment": comment_json(comment),
        "notes": [note_json(n) for n in conversation.notes.select_related("author")],
        "contact": contact_card(conversation),
    }


def note_json(note: Note) -> dict:
    return {
        "id": note.pk,
        "text": note.text,
        "author": note.author.get_username() if note.author else "",
        "at": _iso(note.created_at),
    }


def conversation_json(conversation: Conversation) -> dict:
    return {
        "id": conversation.pk,
        "customer": customer_name(conversation),
        "account": account_name(conversation),
        "account_id": conversation.account_id,
        "status": conversation.status,
        "needs_reply": conversation.needs_reply,
        "assigned_to_id": conversation.assigned_to_id,
        "bot_silence": conversation.bot_silence_reason(),
        "bot_paused": conversation.bot_is_paused(),
        "reply_window": _reply_window_json(conversation),
    }


def _reply_window_json(conversation: Conversation) -> dict:
    """Whether staff may answer now (Instagram's windows), and why not or with which tag."""
    window = windows.staff_reply_window(conversation)
    return {"open": window.open, "human_agent": window.human_agent, "reason": window.reason}


def assignable_users(conversation: Conversation):
    """Active staff who may see this conversation's account."""
    may_see = (
        Q(is_superuser=True)
        | Q(user_permissions__codename=ALL_ACCOUNTS_CODENAME)
        | Q(groups__permissions__codename=ALL_ACCOUNTS_CODENAME)
    )
    if conversation.account_id is not None:
        may_see |= Q(account_grants__account_id=conversation.account_id)
    users = get_user_model().objects.filter(may_see, is_active=True, is_staff=True)
    return users.distinct().order_by("username")


def saved_replies_for(user) -> list[dict]:
    """The snippets the inbox offers: shared ones and those of the user's accounts."""
    replies = scope(SavedReply.objects.all(), user, "account", shared=True)
    return [
        {"shortcut": r.shortcut, "text": r.text, "account_id": r.account_id}
        for r in replies.order_by("shortcut", "id")[:500]
    ]
