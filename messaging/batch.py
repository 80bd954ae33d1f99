"""Customers' messages of a worker's batch of deliveries, stored and answered together: what
events.handle does for one message, for several of distinct conversations, with the ORM's
bulk operations in the caller's one transaction.

    lock the conversations      one SELECT … FOR UPDATE (in id order), one INSERT of the new
    the mids already stored     one SELECT: redeliveries are neither stored nor answered again
    the messages                one INSERT
    the replies decided         rules in memory; the features' batch forms (contacts: one
                                INSERT, one UPDATE); one look for recent fallbacks
    the conversations' activity one UPDATE (bulk_update)
    the replies queued          one INSERT (and one for the later parts of long replies)

Whatever raises here rolls the caller's transaction back, and the caller handles the same
events one at a time (events.handle_in_transaction): a bad event then fails alone.
"""

import logging
from dataclasses import dataclass
from functools import reduce
from operator import or_

from django.db.models import Q

from accounts.models import InstagramBusinessAccount
from instabot.logging import log_context
from messaging import hooks, replies
from messaging.events import customer_message_fields
from messaging.models import Conversation, Message
from messaging.payloads import MessageEvent, Postback, ReferralEvent

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Arrival:
    """One customer's message of the batch, for its account (None: the environment's)."""

    event: MessageEvent | Postback | ReferralEvent
    account: InstagramBusinessAccount | None

    @property
    def conversation_key(self) -> tuple[str, str]:
        return self.event.account_id, self.event.customer_id


def handle_customer_messages(arrivals: list[Arrival]) -> list[Message | None]:
    """Store the messages (each of another conversation) and queue the bot's replies, in the
    caller's transaction. Returns, for each, the reply queued (held by this worker, for it to
    send once the transaction commits), or None."""
    if len({arrival.conversation_key for arrival in arrivals}) != len(arrivals):
        raise ValueError("a batch's messages must be of distinct conversations")
    conversations, created = _locked_conversations(arrivals)
    messages = _new_messages(arrivals, conversations)
    Message.objects.bulk_create([message for message in messages if message is not None])
    stored = []  # (index in arrivals, the stored message as features see it)
    for index, (arrival, message) in enumerate(zip(arrivals, messages, strict=True)):
        if message is not None:
            key = arrival.conversation_key
            item = hooks.CustomerMessage(
                arrival.event, arrival.account, conversations[key], message, key in created
            )
            stored.append((index, item))
            with _context(item):
                logger.info("Stored message %s from %s", item.event.mid, item.event.customer_id)
    decided = replies.decide_replies([item for _, item in stored])
    Conversation.customers_wrote(
        [
            # Only the fallback or nothing answers: a person is needed (the inbox). A thread
            # opened from a link with no rule for it waits for nobody.
            (
                item.conversation,
                item.event.timestamp,
                (reply is None or reply.is_fallback) and not isinstance(item.event, ReferralEvent),
            )
            for (_, item), (reply, _) in zip(stored, decided, strict=True)
        ]
    )
    answering = []  # (index in arrivals, (conversation, reply, the message it answers))
    for (index, item), (reply, reason) in zip(stored, decided, strict=True):
        if reply is None:
            with _context(item):
                logger.info("Not answering message %s: %s", item.event.mid, reason)
        else:
            answering.append((index, (item.conversation, reply, item.message)))
    queued: list[Message | None] = [None] * len(arrivals)
    if answering:
        first_parts = replies.queue_bot_replies([answer for _, answer in answering])
        for (index, _), first_part in zip(answering, first_parts, strict=True):
            queued[index] = first_part
    return queued


def _locked_conversations(
    arrivals: list[Arrival],
) -> tuple[dict[tuple[str, str], Conversation], set[tuple[str, str]]]:
    """The arrivals' conversations, locked until the transaction ends (existing ones in id
    order, so that two workers' batches never lock in opposite orders; new ones by their
    insert), by (account id, customer id); and the keys of those created now."""
    keys = {arrival.conversation_key: arrival for arrival in arrivals}
    matching = reduce(
        or_, (Q(instagram_account_id=account, customer_id=customer) for account, customer in keys)
    )
    locked = Conversation.objects.select_for_update().filter(matching).order_by("pk")
    conversations = {(c.instagram_account_id, c.customer_id): c for c in locked}
    new = [
        Conversation(
            instagram_account_id=key[0],
            customer_id=key[1],
            account=arrival.account,
            last_message_at=arrival.event.timestamp,
        )
        for key, arrival in keys.items()
        if key not in conversations
    ]
    # Another worker creating one of them meanwhile makes this raise (the unique pair): the
    # caller then handles these messages one at a time, which finds it.
    Conversation.objects.bulk_create(new)
    for conversation in new:
        conversations[conversation.instagram_account_id, conversation.customer_id] = conversation
    for key, conversation in conversations.items():
        account = keys[key].account
        if account is not None and conversation.account_id is None:
            # Served by the environment's credentials until the account was stored.
            Conversation.objects.filter(pk=conversation.pk, account__isnull=True).update(
                account=account
            )
            conversation.account = account
    return conversations, {(c.instagram_account_id, c.customer_id) for c in new}


def _new_messages(
    arrivals: list[Arrival], conversations: dict[tuple[str, str], Conversation]
) -> list[Message | None]:
    """The messages to insert (None for one already stored: a redelivery, never answered
    twice; or one whose mid another account's message has)."""
    mids = [arrival.event.mid for arrival in arrivals]
    stored = Message.objects.filter(mid__in=mids).values_list(
        "mid", "conversation__instagram_account_id"
    )
    held_by = dict(stored)
    messages: list[Message | None] = []
    for arrival in arrivals:
        event = arrival.event
        if event.mid in held_by:
            with log_context(account=event.account_id, mid=event.mid):
                if held_by[event.mid] == event.account_id:
                    logger.info(
                        "Message %s was delivered again: already stored and answered", event.mid
                    )
                else:
                    logger.warning(
                        "Message %s for account %s has the mid of another account's message: "
                        "not stored",
                        event.mid,
                        event.account_id,
                    )
            messages.append(None)
            continue
        held_by[event.mid] = event.account_id  # the same mid twice in a batch: stored once
        messages.append(
            Message(
                conversation=conversations[arrival.conversation_key],
                direction=Message.Direction.INCOMING,
                author=Message.Author.CUSTOMER,
                mid=event.mid,
                timestamp=event.timestamp,
                **customer_message_fields(event),
            )
        )
    return messages


def _context(item: hooks.CustomerMessage):
    return log_context(
        account=item.event.account_id, mid=item.event.mid, conversation=item.conversation.pk
    )
