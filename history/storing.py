"""Storing a message read from the Conversations API as it is, without answering it."""

import logging

from django.db import IntegrityError, transaction

from messaging.models import Conversation, Message
from meta.conversations import HistoryMessage

logger = logging.getLogger(__name__)


def customer_of(account, message: HistoryMessage) -> str:
    """The other side of the thread: the sender, or the recipient of what the account sent."""
    if message.from_id != account.instagram_id:
        return message.from_id
    others = [person for person in message.to_ids if person != account.instagram_id]
    return others[0] if others else ""


def store_as_history(account, message: HistoryMessage) -> bool:
    """Store an imported message (incoming or outgoing), attached to the customer's
    conversation, never answered. Returns False when it was stored already (by mid)."""
    customer_id = customer_of(account, message)
    if not customer_id:
        logger.info("Message %s names no customer: not imported", message.id)
        return False
    outgoing = message.from_id == account.instagram_id
    with transaction.atomic():
        conversation, _ = Conversation.objects.get_or_create(
            instagram_account_id=account.instagram_id,
            customer_id=customer_id,
            defaults={"account": account, "last_message_at": message.created_time},
        )
        try:
            # A savepoint: a mid stored meanwhile (a webhook) must not break the transaction.
            with transaction.atomic():
                stored = Message.objects.create(
                    conversation=conversation,
                    direction=Message.Direction.OUTGOING
                    if outgoing
                    else Message.Direction.INCOMING,
                    # An outgoing message we have no record of was sent by staff from the app
                    # (or before this service): the business's, not the bot's.
                    author=Message.Author.BUSINESS_APP if outgoing else Message.Author.CUSTOMER,
                    status=Message.Status.SENT if outgoing else "",
                    mid=message.id,
                    text=message.text,
                    attachments=[{"type": a.type, "url": a.url} for a in message.attachments],
                    details={"found_by": "history_import"},
                    timestamp=message.created_time,
                )
            # Threads are shown in created_at order: an imported message takes its place
            # in time, not the moment it was imported.
            Message.objects.filter(pk=stored.pk).update(created_at=message.created_time)
        except IntegrityError:
            if Message.objects.filter(mid=message.id).exists():
                return False
            raise
        conversation.record_activity(message.created_time)
    return True
