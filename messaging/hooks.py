"""What feature apps plug into the webhook core, registered from their AppConfig.ready (as
dj-stripe's webhook handlers and zulip's event dispatch are): the core calls what was
registered and imports no feature, so the apps depend one way (.importlinter checks it).

change parsers   an `entry[].changes[]` field the core does not read (comments, mentions)
                 becomes the feature's own event, at the edge, in the web process too
event handlers   that event, handled in the delivery's event transaction
echo senders     an echo of a message a feature sent itself (a private reply to a comment),
                 which its sender records: not a message staff wrote in the Instagram app

The worker's steps are registered with messaging.worker_pass, and what waited for credentials
with messaging.credentials_wait.
"""

from collections.abc import Callable, Iterable
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
