"""
What we send besides plain text: quick replies, buttons, cards, media, sender actions, and the
account's ice breakers and persistent menu. Small typed objects, each with Meta's limits.

`problems()` of each shape names every limit it breaks, in words fit for a form's field error:
the rules admin and the API check them when staff save, so Meta never refuses a send for them.
`to_graph()` is the Send API's JSON; `as_json()` / `outgoing_from_json()` are how a queued
message keeps it in the database. Imports nothing of ours.
"""

import ipaddress
import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.core.validators import RegexValidator

# Meta's limits (Instagram Messaging: quick replies, button and generic templates, messenger
# profile). Where a figure is Messenger's and not confirmed for Instagram, it is marked.
QUICK_REPLIES_MAX = 13
QUICK_REPLY_TITLE_MAX = 20
BUTTONS_MAX = 3
BUTTON_TITLE_MAX = 20
BUTTON_TEXT_MAX = 640  # the text of a button template
CARDS_MAX = 10
CARD_TITLE_MAX = 80
CARD_SUBTITLE_MAX = 80
PAYLOAD_MAX = 1000
URL_MAX = 2000
ICE_BREAKERS_PER_LOCALE = 4
ICE_BREAKER_QUESTION_MAX = 80  # Messenger's figure; unconfirmed for Instagram
MENU_ITEMS_MAX = 20  # unconfirmed for Instagram

MEDIA_KINDS = ("image", "video", "audio")

# The payloads staff give rules, buttons, ice breakers and menu items: what a person can type
# and read back (Meta takes any string up to PAYLOAD_MAX).
validate_payload_name = RegexValidator(
    r"\A[A-Za-z0-9_.:\-]{1,100}\Z",
    "A payload is letters, digits and _ . : - (say MAIN_MENU), without spaces.",
    # Not "invalid": a JSONField would put its own "Value must be valid JSON." in its place.
    code="payload_name",
)
SENDER_ACTIONS = ("typing_on", "typing_off", "mark_seen")


def url_problem(url: str, what: str = "The link") -> str:
    """Why `url` is no link to give Meta for a button or media, or "": a public https address
    (Meta fetches media from it; a customer opens a button's)."""
    if len(url) > URL_MAX:
        return f"{what} has at most {URL_MAX} characters."
    parts = urlsplit(url)
    if parts.scheme.lower() != "https" or not parts.hostname or any(c.isspace() for c in url):
        return f"{what} must be a web address starting with https:// ({shown(url)} is not)."
    if parts.username or parts.password:
        return f"{what} cannot carry a user name or password."
    if not _is_public_host(parts.hostname):
        return f"{what} must be on the public web, not {parts.hostname[:40]!r}."
    return ""


def _is_public_host(host: str) -> bool:
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
        return False
    try:
        return ipaddress.ip_address(host).is_global
    except ValueError:
        return "." in host  # a name; Meta resolves it


def shown(value: str, most: int = 20) -> str:
    """A value quoted in an error message, cut: a 2 MB title is not echoed back."""
    return repr(value if len(value) <= most else value[:most] + "…")


def title_problem(title: str, what: str, most: int) -> list[str]:
    """A button's or quick reply's title: shown as is, typed in the admin as `Title -> …`."""
    found = []
    if not title.strip():
        found.append(f"A {what} needs a title.")
    if len(title) > most:
        found.append(
            f"{what.capitalize()} titles have at most {most} characters: "
            f"{shown(title)} has {len(title)}."
        )
    if "->" in title or any(unicodedata.category(c) == "Cc" for c in title):
        found.append(f"A {what} title cannot hold “->” or a line break: {shown(title)}.")
    return found


@dataclass(frozen=True)
class QuickReply:
    title: str
    payload: str

    def problems(self) -> list[str]:
        found = title_problem(self.title, "quick reply", QUICK_REPLY_TITLE_MAX)
        if not self.payload.strip():
            found.append(f"The quick reply {shown(self.title)} needs a payload.")
        if len(self.payload) > PAYLOAD_MAX:
            found.append(f"A payload has at most {PAYLOAD_MAX} characters.")
        return found

    def to_graph(self) -> dict:
        return {"content_type": "text", "title": self.title, "payload": self.payload}


@dataclass(frozen=True)
class Button:
    """A postback button (`payload`: what its tap sends back) or a link (`url`)."""

    title: str
    payload: str = ""
    url: str = ""

    def problems(self) -> list[str]:
        found = title_problem(self.title, "button", BUTTON_TITLE_MAX)
        if bool(self.payload) == bool(self.url):
            found.append(f"The button {shown(self.title)} needs a payload or a link (one of them).")
        if self.url and (problem := url_problem(self.url, f"The link of {shown(self.title)}")):
            found.append(problem)
        if len(self.payload) > PAYLOAD_MAX:
            found.append(f"A payload has at most {PAYLOAD_MAX} characters.")
        return found

    def to_graph(self) -> dict:
        if self.url:
            return {"type": "web_url", "title": self.title, "url": self.url}
        return {"type": "postback", "title": self.title, "payload": self.payload}


def _buttons_problems(buttons: tuple[Button, ...], where: str) -> list[str]:
    if len(buttons) > BUTTONS_MAX:
        return [f"{where} has at most {BUTTONS_MAX} buttons ({len(buttons)} given)."]
    return [problem for button in buttons for problem in button.problems()]


@dataclass(frozen=True)
class Card:
    """One card of a carousel (Meta's generic template element)."""

    title: str
    subtitle: str = ""
    image_url: str = ""
    buttons: tuple[Button, ...] = ()

    def problems(self) -> list[str]:
        found = []
        if not self.title.strip():
            found.append("A card needs a title.")
        if len(self.title) > CARD_TITLE_MAX:
            found.append(
                f"Card titles have at most {CARD_TITLE_MAX} characters: {shown(self.title)}."
            )
        if len(self.subtitle) > CARD_SUBTITLE_MAX:
            found.append(f"Card subtitles have at most {CARD_SUBTITLE_MAX} characters.")
        if self.image_url and (problem := url_problem(self.image_url, "The card's image")):
            found.append(problem)
        return found + _buttons_problems(self.buttons, f"The card {self.title!r}")

    def to_graph(self) -> dict:
        element = {"title": self.title}
        if self.subtitle:
            element["subtitle"] = self.subtitle
        if self.image_url:
            element["image_url"] = self.image_url
        if self.buttons:
            element["buttons"] = [button.to_graph() for button in self.buttons]
        return element


# --- one outgoing message ---------------------------------------------------------------------


@dataclass(frozen=True)
class Text:
    """Text, with quick replies (they show under the newest message only)."""

    text: str
    quick_replies: tuple[QuickReply, ...] = ()

    kind = "text"

    def problems(self) -> list[str]:
        if len(self.quick_replies) > QUICK_REPLIES_MAX:
            # Said once: the items of a list far too long are not each judged.
            return [f"At most {QUICK_REPLIES_MAX} quick replies ({len(self.quick_replies)} given)."]
        found = []
        for quick_reply in self.quick_replies:
            found.extend(quick_reply.problems())
        return found

    def to_graph(self) -> dict:
        message = {"text": self.text}
        if self.quick_replies:
            message["quick_replies"] = [reply.to_graph() for reply in self.quick_replies]
        return message


@dataclass(frozen=True)
class Buttons:
    """Meta's button template: text with up to three buttons."""

    text: str
    buttons: tuple[Button, ...]

    kind = "buttons"

    def problems(self) -> list[str]:
        found = []
        if not self.text.strip():
            found.append("Text with buttons cannot be empty.")
        if len(self.text) > BUTTON_TEXT_MAX:
            found.append(
                f"Text with buttons has at most {BUTTON_TEXT_MAX} characters "
                f"({len(self.text)} given)."
            )
        return found + _buttons_problems(self.buttons, "A message")

    def to_graph(self) -> dict:
        payload = {
            "template_type": "button",
            "text": self.text,
            "buttons": [button.to_graph() for button in self.buttons],
        }
        return {"attachment": {"type": "template", "payload": payload}}


@dataclass(frozen=True)
class Cards:
    """Meta's generic template: a carousel of cards."""

    cards: tuple[Card, ...]

    kind = "cards"

    def problems(self) -> list[str]:
        found = [] if self.cards else ["A carousel needs at least one card."]
        if len(self.cards) > CARDS_MAX:
            return [f"A carousel has at most {CARDS_MAX} cards ({len(self.cards)} given)."]
        for card in self.cards:
            found.extend(card.problems())
        return found

    def to_graph(self) -> dict:
        payload = {"template_type": "generic", "elements": [c.to_graph() for c in self.cards]}
        return {"attachment": {"type": "template", "payload": payload}}


@dataclass(frozen=True)
class Media:
    """An image, a video or an audio clip, by its public URL."""

    media_kind: str  # one of MEDIA_KINDS
    url: str

    kind = "media"

    def problems(self) -> list[str]:
        found = []
        if self.media_kind not in MEDIA_KINDS:
            found.append(f"Media is one of {', '.join(MEDIA_KINDS)}, not {self.media_kind!r}.")
        if problem := url_problem(self.url, "The media's link"):
            found.append(problem)
        return found

    def to_graph(self) -> dict:
        payload = {"url": self.url, "is_reusable": True}
        return {"attachment": {"type": self.media_kind, "payload": payload}}


Outgoing = Text | Buttons | Cards | Media


def summary(message: Outgoing) -> str:
    """A line of text for a message: what the inbox lists and an echo is matched by."""
    match message:
        case Text() | Buttons():
            return message.text
        case Cards():
            return " · ".join(card.title for card in message.cards)
        case Media():
            return f"[{message.media_kind}]"
    raise TypeError(message)


# --- stored form: a queued message keeps what it will send ----------------------------------


def as_json(message: Outgoing) -> dict:
    """Plain data for a JSONField; `outgoing_from_json` reads it back. A plain Text with no
    quick replies is stored as {} (its text is the message's own text column)."""
    match message:
        case Text(quick_replies=()):
            return {}
        case Text():
            return {"kind": "text", "quick_replies": [plain(q) for q in message.quick_replies]}
        case Buttons():
            return {"kind": "buttons", "buttons": [plain(b) for b in message.buttons]}
        case Cards():
            return {"kind": "cards", "cards": [_card_json(card) for card in message.cards]}
        case Media():
            return {"kind": "media", "media_kind": message.media_kind, "url": message.url}
    raise TypeError(message)


def outgoing_from_json(text: str, data: dict) -> Outgoing:
    """The message a queued row will send: its text column and its stored content."""
    kind = (data or {}).get("kind", "text")
    if kind == "text":
        return Text(text, tuple(QuickReply(**q) for q in data.get("quick_replies", ())))
    if kind == "buttons":
        return Buttons(text, buttons_from_json(data.get("buttons", ())))
    if kind == "cards":
        return Cards(tuple(card_from_json(card) for card in data.get("cards", ())))
    if kind == "media":
        return Media(data["media_kind"], data["url"])
    raise ValueError(f"unknown stored message kind {kind!r}")


def buttons_from_json(items) -> tuple[Button, ...]:
    return tuple(
        Button(str(b.get("title", "")), str(b.get("payload", "")), str(b.get("url", "")))
        for b in items
    )


def card_from_json(data: dict) -> Card:
    return Card(
        title=str(data.get("title", "")),
        subtitle=str(data.get("subtitle", "")),
        image_url=str(data.get("image_url", "")),
        buttons=buttons_from_json(data.get("buttons", ())),
    )


def plain(item: QuickReply | Button) -> dict:
    return {key: value for key, value in vars(item).items() if value}


def _card_json(card: Card) -> dict:
    data = {key: value for key, value in vars(card).items() if value and key != "buttons"}
    if card.buttons:
        data["buttons"] = [plain(button) for button in card.buttons]
    return data
