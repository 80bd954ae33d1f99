"""What feature apps plug into the webhook core, registered from their AppConfig.ready (as
dj-stripe's webhook handlers and zulip's event dispatch are): the core calls what was
registered and imports no feature, so the apps depend one way (.importlinter checks it).

change parsers   an `entry[].changes[]` field the core does not read (comments, mentions)
                 becomes the feature's own event, at the edge, in the web process too
event handlers   that event, handled in the delivery's event transaction
echo senders     an echo of a message a feature sent itself (a private reply to a comment),
                 which its sender records: not a message staff wrote in the Instagram app
customer message a customer's message just stored, with the bot's chosen reply: the feature
                 may record it and change the reply (contacts: who the customer is, their flow);
                 optionally with a form for a batch of messages of distinct conversations
                 (the worker's batches), the one-message form being the fallback
profile          a customer's profile the worker learned from Instagram
business events  something staff's other tools may want to know (a new contact, a tag, a
                 conversation resolved …): emitted where it happens, in its transaction

The worker's steps are registered with messaging.worker_pass, and what waited for credentials
with messaging.credentials_wait.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

# parser(value, account_id, entry_time, field) -> the event, or None for nothing to handle;
# raises payloads.EventError for a malformed value (that one item is then skipped).
ChangeParser = Callable[[dict, str, Any, str], Any]
EventHandler = Callable[[Any, Any], None]  # handler(event, account or None)

_change_parsers: dict[str, ChangeParser] = {}
_event_handlers: dict[type, EventHandler] = {}
_echo_senders: list[Callable[[Any], bool]] = []


def register_change_parser(fields: Iterable[str], parser: ChangeParser) -> None:
    for field in fields:
        _change_parsers[field] = parser


def change_parser(field: str) -> ChangeParser | None:
    return _change_parsers.get(field)


def register_event_handler(event_type: type, handler: EventHandler) -> None:
    _event_handlers[event_type] = handler


def event_handler(event) -> EventHandler | None:
    return _event_handlers.get(type(event))


def register_echo_sender(sent_it: Callable[[Any], bool]) -> None:
    """`sent_it(echo)`: whether the echo is of a message the feature is sending itself."""
    if sent_it not in _echo_senders:
        _echo_senders.append(sent_it)


def echo_of_a_feature_send(echo) -> bool:
    return any(sent_it(echo) for sent_it in _echo_senders)


_customer_message_handlers: list[Callable] = []
# A customer-message handler's batch form, where it registered one.
_batch_forms: dict[Callable, Callable] = {}
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


def on_customer_message(handler: Callable, *, batch: Callable | None = None) -> Callable:
    """Register handler(stored: CustomerMessage, reply, reason) -> (reply, reason): it sees
    the bot's chosen reply (None: silent, and why) and returns the one to send.

    `batch`, optional: the same for many messages at once, each of another conversation (the
    worker's batch of deliveries): batch(list of (stored, reply, reason)) -> list of (reply,
    reason), in the same order, with what it writes done in a few statements for them all.
    Without it, `handler` is called for each message."""
    if handler not in _customer_message_handlers:
        _customer_message_handlers.append(handler)
    if batch is not None:
        _batch_forms[handler] = batch
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


def customer_messages_stored(items: list[tuple[CustomerMessage, Any, str]]) -> list[tuple]:
    """customer_message_stored for messages of distinct conversations at once: each handler
    in turn over all of them, through its batch form where it has one. Returns the (reply,
    reason) of each, in order."""
    stored = [item[0] for item in items]
    decided = [(reply, reason) for _, reply, reason in items]
    for handler in _customer_message_handlers:
        if batch := _batch_forms.get(handler):
            decided = list(batch([(s, *d) for s, d in zip(stored, decided, strict=True)]))
        else:
            decided = [handler(s, *d) for s, d in zip(stored, decided, strict=True)]
    return decided


def profile_fetched(conversation_id: int, profile) -> None:
    for handler in _profile_handlers:
        handler(conversation_id, profile)


# What business events are called (outgoing webhooks offer these to staff).
BUSINESS_EVENTS = {
    "contact.created": "A new contact",
    "contact.tag_added": "A tag added to a contact",
    "contact.tag_removed": "A tag removed from a contact",
    "contact.field_saved": "A contact's field saved",
    "conversation.needs_reply": "A conversation needs a person's reply",
    "conversation.resolved": "A conversation resolved",
    "comment.answered": "A comment answered",
}
_business_event_handlers: list[Callable] = []


def on_business_event(handler: Callable) -> Callable:
    """Register handler(name, account_id, data: dict), called in the transaction of what
    happened (so what it stores is kept or rolled back with it)."""
    if handler not in _business_event_handlers:
        _business_event_handlers.append(handler)
    return handler


def business_event(name: str, account_id: int | None, data: dict) -> None:
    """`name` (one of BUSINESS_EVENTS) happened for the account (None: the environment's)."""
    for handler in _business_event_handlers:
        handler(name, account_id, data)
