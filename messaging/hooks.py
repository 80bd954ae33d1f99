"""Where feature apps take part in the core's work without the core importing them.

A feature registers its handler here from its AppConfig.ready (contacts: who the customer is,
and their flow). The core calls what was registered, in order. Kept to two calls until the
general handler registry lands; each handler is a plain function, easy to move onto it.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_customer_message_handlers: list[Callable] = []
_profile_handlers: list[Callable] = []


@dataclass(frozen=True)
class CustomerMessage:
    """A customer's message just stored, in the transaction that stored it (the conversation
    row is locked until it commits)."""

    event: Any  # messaging.payloads.MessageEvent | Postback | ReferralEvent
    account: Any  # accounts.models.InstagramBusinessAccount | None
    conversation: Any  # messaging.models.Conversation
    message: Any  # messaging.models.Message
    new_conversation: bool


def on_customer_message(handler: Callable) -> Callable:
    """Register handler(stored: CustomerMessage, reply, reason) -> (reply, reason): it sees
    the bot's chosen reply (None: silent, and why) and returns the one to send."""
    if handler not in _customer_message_handlers:
        _customer_message_handlers.append(handler)
    return handler


def on_profile(handler: Callable) -> Callable:
    """Register handler(conversation_id, profile: meta.graph.UserProfile), called when the
    worker learned a customer's profile from Instagram."""
    if handler not in _profile_handlers:
        _profile_handlers.append(handler)
    return handler


def customer_message_stored(stored: CustomerMessage, reply, reason: str):
    for handler in _customer_message_handlers:
        reply, reason = handler(stored, reply, reason)
    return reply, reason


def profile_fetched(conversation_id: int, profile) -> None:
    for handler in _profile_handlers:
        handler(conversation_id, profile)
