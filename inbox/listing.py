"""The inbox's list: the conversations a staff user may see, who needs a reply first.

A page costs a constant number of queries, on indexed columns: the page itself (ordered by
the (status, needs_reply, last_message_at, id) index, with its newest customer message as
subqueries on the (conversation, created_at) index), the user's read markers for that page,
and the count of conversations needing a reply.
"""

from dataclasses import dataclass

from django.db.models import OuterRef, QuerySet, Subquery

from accounts.access import scope
from inbox.models import ReadMarker
from instabot.rest import ID_DIGITS
from messaging.models import Conversation, Message

PAGE_SIZE = 50
# Who needs a reply first, then newest activity: the conversation_inbox_order index's order
# (after the status every list filters on).
ORDER = ("-needs_reply", "-last_message_at", "-id")

# ?view=: which conversations the list shows (all of them are open ones but "resolved").
VIEWS = ("all", "mine", "unassigned", "resolved")


class BadFilter(ValueError):
    """A list filter the inbox does not know."""


@dataclass(frozen=True)
class ListFilters:
    view: str = "all"
    account: int | None = None

    @classmethod
    def from_query(cls, query) -> "ListFilters":
        view = query.get("view") or "all"
        if view not in VIEWS:
            raise BadFilter(f"view must be one of {', '.join(VIEWS)}")
        account = query.get("account") or None
        if account is not None:
            if not ID_DIGITS.fullmatch(account):
                raise BadFilter("account must be an account's id")
            account = int(account)
        return cls(view=view, account=account)


def visible_conversations(user) -> QuerySet[Conversation]:
    return scope(Conversation.objects.all(), user, "account")


def filtered(user, filters: ListFilters) -> QuerySet[Conversation]:
    resolved = filters.view == "resolved"
    conversations = visible_conversations(user).filter(
        status=Conversation.Status.ARCHIVED if resolved else Conversation.Status.ACTIVE
    )
    if filters.account is not None:
        conversations = conversations.filter(account_id=filters.account)
    if filters.view == "mine":
        conversations = conversations.filter(assigned_to=user)
    elif filters.view == "unassigned":
        conversations = conversations.filter(assigned_to__isnull=True)
    return conversations


def needs_reply_count(user, filters: ListFilters | None = None) -> int:
    """Open conversations waiting for a person (the page title shows it)."""
    conversations = filtered(user, filters) if filters else visible_conversations(user)
    return conversations.filter(status=Conversation.Status.ACTIVE, needs_reply=True).count()


def conversation_page(user, filters: ListFilters) -> list[dict]:
    """The first PAGE_SIZE conversations: needing a reply first, then newest activity first."""
    # The preview is the customer's newest message: what staff answer (the bot's own fallback
    # would say nothing about who needs what).
    newest_incoming = Message.objects.filter(
        conversation=OuterRef("pk"), direction=Message.Direction.INCOMING
    ).order_by("-created_at", "-id")
    page = list(
        filtered(user, filters)
        .select_related("account", "assigned_to")
        .annotate(
            last_text=Subquery(newest_incoming.values("text")[:1]),
            last_attachments=Subquery(newest_incoming.values("attachments")[:1]),
            last_incoming_id=Subquery(newest_incoming.values("id")[:1]),
        )
        .order_by(*ORDER)[:PAGE_SIZE]
    )
    read_up_to = dict(
        ReadMarker.objects.filter(user=user, conversation__in=[c.pk for c in page]).values_list(
            "conversation_id", "last_read_message_id"
        )
    )
    return [
        conversation_row(c, unread=(c.last_incoming_id or 0) > read_up_to.get(c.pk, 0))
        for c in page
    ]


def customer_name(conversation: Conversation) -> str:
    if conversation.customer_username:
        return f"@{conversation.customer_username}"
    return conversation.customer_id


def account_name(conversation: Conversation) -> str:
    return str(conversation.account) if conversation.account else conversation.instagram_account_id


def preview(text: str, attachments) -> str:
    text = text or " ".join(f"[{a.get('type', 'attachment')}]" for a in attachments or [])
    return text if len(text) <= 80 else text[:79] + "…"


def conversation_row(conversation: Conversation, unread: bool) -> dict:
    return {
        "id": conversation.pk,
        "customer": customer_name(conversation),
        "account": account_name(conversation),
        "account_id": conversation.account_id,
        "preview": preview(conversation.last_text, conversation.last_attachments),
        "last_message_at": _iso(conversation.last_message_at),
        "needs_reply": conversation.needs_reply,
        "needs_reply_since": _iso(conversation.needs_reply_since),
        "assigned_to": conversation.assigned_to.get_username() if conversation.assigned_to else "",
        "status": conversation.status,
        "bot_paused": conversation.bot_is_paused(),
        "unread": unread,
    }


def _iso(moment) -> str | None:
    return moment.isoformat() if moment else None
