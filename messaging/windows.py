"""Meta's messaging windows: the bot may answer for 24 hours after the customer's last
message; a person (the HUMAN_AGENT tag, if the account is allowed it) for 7 days."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Exists, Max, OuterRef
from django.utils import timezone

from messaging.models import Conversation, Message

MESSAGING_WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)


@dataclass(frozen=True)
class ReplyWindow:
    """Whether staff may answer a conversation now, and how (Meta's messaging windows)."""

    open: bool
    human_agent: bool = False  # with the HUMAN_AGENT tag: 24 hours to 7 days
    reason: str = ""  # why it is closed, or why the tag is used


def staff_reply_window(conversation: Conversation, now: datetime | None = None) -> ReplyWindow:
    """Meta lets anyone answer for 24 hours after the customer's last message, and a person
    (never the bot) up to 7 days with the HUMAN_AGENT tag, if the account is allowed it."""
    now = now or timezone.now()
    last = conversation.messages.filter(direction=Message.Direction.INCOMING).aggregate(
        last=Max("timestamp")
    )["last"]
    if last is None or now - last <= MESSAGING_WINDOW:
        # No message of theirs known (a thread begun by a private reply): Meta decides.
        return ReplyWindow(True)
    ago = _ago(now - last)
    account = conversation.account
    if now - last > HUMAN_AGENT_WINDOW:
        return ReplyWindow(
            False,
            reason=f"The customer last wrote {ago} ago: Instagram takes no reply more than "
            "7 days after their last message. It reopens when they write again.",
        )
    if account is None or not account.human_agent_allowed:
        return ReplyWindow(
            False,
            reason=f"The customer last wrote {ago} ago: Instagram allows replies for 24 hours. "
            "An account allowed Meta's HUMAN_AGENT tag (see the account's settings) can answer "
            "up to 7 days.",
        )
    return ReplyWindow(
        True,
        human_agent=True,
        reason=f"The customer last wrote {ago} ago: sent with Meta's HUMAN_AGENT tag "
        "(a person's answer, up to 7 days).",
    )


def _ago(delta: timedelta) -> str:
    hours = int(delta.total_seconds() // 3600)
    return f"{hours} hours" if hours < 48 else f"{hours // 24} days"


def messaging_window(conversation: Conversation, now: datetime | None = None) -> ReplyWindow:
    """The 24-hour window alone, for what no person writes (a broadcast): open only when the
    customer's last message is known and less than 24 hours old."""
    now = now or timezone.now()
    last = conversation.messages.filter(direction=Message.Direction.INCOMING).aggregate(
        last=Max("timestamp")
    )["last"]
    if last is None:
        return ReplyWindow(False, reason="The customer never wrote: Instagram takes no message.")
    if now - last > MESSAGING_WINDOW:
        return ReplyWindow(
            False,
            reason=f"The customer last wrote {_ago(now - last)} ago: Instagram allows messages "
            "for 24 hours after their last one.",
        )
    return ReplyWindow(True)


def window_is_open(now: datetime | None = None) -> Exists:
    """messaging_window's test for many rows at once: filter conversations (or rows that share
    their key, such as contacts) by it."""
    now = now or timezone.now()
    return Exists(
        Message.objects.filter(
            conversation=OuterRef("pk"),
            direction=Message.Direction.INCOMING,
            timestamp__gt=now - MESSAGING_WINDOW,
        )
    )
