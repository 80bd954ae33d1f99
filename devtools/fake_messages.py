"""The fake Graph API's checks of what a Send API call asks (devtools.fake_graph): Meta's
limits on text, quick replies, templates, media, tags and sender actions, and the account's
messenger profile (ice breakers, persistent menu), refused with Meta's (#100) errors.

The figures are written out here on purpose, not imported from meta.messages: the service's
own checks are tested against these, so one wrong number cannot hide in both.
"""

import re

# Meta's answers for the failures the service must tell apart: (HTTP status, error object).
SEND_FAILURES = {
    "transient": (
        500,
        {
            "message": "An unexpected error has occurred. Please retry your request later.",
            "type": "OAuthException",
            "code": 2,
            "is_transient": True,
        },
    ),
    "rate_limit": (
        400,
        {
            "message": "(#613) Calls to this api have exceeded the rate limit.",
            "type": "OAuthException",
            "code": 613,
        },
    ),
    "outside_window": (
        400,
        {
            "message": "(#10) This message is sent outside of allowed window.",
            "type": "OAuthException",
            "code": 10,
            "error_subcode": 2534022,
        },
    ),
    "user_unavailable": (
        400,
        {
            "message": "(#551) This person isn't available right now.",
            "type": "OAuthException",
            "code": 551,
        },
    ),
    "invalid_token": (
        401,
        {
            "message": "Error validating access token: Session has expired.",
            "type": "OAuthException",
            "code": 190,
            "error_subcode": 463,
        },
    ),
    "server_error": (503, None),  # a proxy's HTML error page, no Graph error object
}

PROFILE_PATH = re.compile(r"^/v[\d.]+/me/messenger_profile$")

TEXT_BYTES = 1000
QUICK_REPLIES = 13
QUICK_REPLY_TITLE = 20
BUTTONS = 3
BUTTON_TITLE = 20
BUTTON_TEXT = 640
ELEMENTS = 10
ELEMENT_TITLE = 80
ICE_BREAKERS = 4
MENU_ITEMS = 20


def invalid(message: str) -> tuple[int, dict]:
    return 400, {"error": {"message": f"(#100) {message}", "type": "OAuthException", "code": 100}}


def check_send(body: dict) -> tuple[int, dict] | None:
    """Meta's refusal of a Send API body, or None if Meta would take it."""
    if body.get("tag") is not None or body.get("messaging_type") == "MESSAGE_TAG":
        if body.get("messaging_type") != "MESSAGE_TAG" or body.get("tag") != "HUMAN_AGENT":
            return invalid("Param tag must be HUMAN_AGENT with messaging_type MESSAGE_TAG")
    if "sender_action" in body:
        if body["sender_action"] not in ("typing_on", "typing_off", "mark_seen", "react"):
            return invalid("Param sender_action must be one of typing_on, typing_off, mark_seen")
        return None
    message = body.get("message")
    if not isinstance(message, dict):
        return invalid("Invalid parameter")
    text, attachment = message.get("text"), message.get("attachment")
    if bool(text) == bool(attachment):
        return invalid("Param message must have text or an attachment, not both")
    if text is not None and len(str(text).encode()) > TEXT_BYTES:
        return invalid("Length of param message[text] must be less than or equal to 1000")
    if problem := _quick_replies(message.get("quick_replies")):
        return invalid(problem)
    if attachment is not None and (problem := _attachment(attachment)):
        return invalid(problem)
    return None


def _quick_replies(items) -> str:
    if items is None:
        return ""
    if not isinstance(items, list) or not items or len(items) > QUICK_REPLIES:
        return f"Param message[quick_replies] must be an array of 1 to {QUICK_REPLIES} elements"
    for index, item in enumerate(items):
        title = item.get("title", "") if isinstance(item, dict) else ""
        if not title or len(title) > QUICK_REPLY_TITLE:
            return f"Param message[quick_replies][{index}][title] must be 1 to 20 characters"
        if not item.get("payload"):
            return f"Param message[quick_replies][{index}][payload] is required"
    return ""


def _attachment(attachment) -> str:
    if not isinstance(attachment, dict):
        return "Param message[attachment] must be an object"
    kind, payload = attachment.get("type"), attachment.get("payload")
    if not isinstance(payload, dict):
        return "Param message[attachment][payload] must be an object"
    if kind in ("image", "video", "audio", "file"):
        url = payload.get("url", "")
        return "" if str(url).startswith(("http://", "https://")) else "Invalid media URL"
    if kind != "template":
        return "Param message[attachment][type] must be one of image, video, audio, file, template"
    template = payload.get("template_type")
    if template == "button":
        text = payload.get("text", "")
        if not text or len(text) > BUTTON_TEXT:
            return "Param message[attachment][payload][text] must be 1 to 640 characters"
        return _buttons(payload.get("buttons"), "message[attachment][payload][buttons]")
    if template == "generic":
        elements = payload.get("elements")
        if not isinstance(elements, list) or not elements or len(elements) > ELEMENTS:
            return "Param message[attachment][payload][elements] must have 1 to 10 elements"
        for index, element in enumerate(elements):
            where = f"message[attachment][payload][elements][{index}]"
            if not isinstance(element, dict) or not element.get("title"):
                return f"Param {where}[title] is required"
            if len(element["title"]) > ELEMENT_TITLE or len(element.get("subtitle", "")) > 80:
                return f"Param {where} title and subtitle must be at most 80 characters"
            if "buttons" in element and (
                problem := _buttons(element["buttons"], f"{where}[buttons]")
            ):
                return problem
        return ""
    return "Param message[attachment][payload][template_type] must be button or generic"


def _buttons(buttons, where: str, most: int = BUTTONS) -> str:
    if not isinstance(buttons, list) or not buttons or len(buttons) > most:
        return f"Param {where} must be an array of 1 to {most} elements"
    for index, button in enumerate(buttons):
        if not isinstance(button, dict):
            return f"Param {where}[{index}] must be an object"
        title = button.get("title", "")
        if not title or len(title) > BUTTON_TITLE:
            return f"Param {where}[{index}][title] must be 1 to 20 characters"
        if button.get("type") == "postback" and not button.get("payload"):
            return f"Param {where}[{index}][payload] is required"
        if button.get("type") == "web_url" and not str(button.get("url", "")).startswith("http"):
            return f"Param {where}[{index}][url] must be a URL"
        if button.get("type") not in ("postback", "web_url"):
            return f"Param {where}[{index}][type] must be postback or web_url"
    return ""


def echo_attachments(message: dict) -> list[dict]:
    """What Meta's echo of a message without text carries: its attachment."""
    attachment = message.get("attachment")
    if not isinstance(attachment, dict):
        return []
    if attachment.get("type") == "template":
        return [{"type": "template", "payload": attachment.get("payload", {})}]
    return [{"type": attachment.get("type"), "payload": {"url": attachment["payload"]["url"]}}]


class FakeProfiles:
    """Each token's messenger profile (one token, one account, as at Meta)."""

    def __init__(self):
        self.by_token: dict[str, dict] = {}

    def answer(self, method: str, token: str, body: dict, query: str) -> tuple[int, dict]:
        profile = self.by_token.setdefault(token, {})
        if "platform=instagram" not in query and body.get("platform") != "instagram":
            return invalid("Param platform must be instagram")
        if method == "GET":
            return 200, {"data": [dict(profile)] if profile else []}
        if method == "DELETE":
            for name in body.get("fields") or []:
                profile.pop(name, None)
            return 200, {"result": "success"}
        if problem := _profile_problem(body):
            return invalid(problem)
        for name in ("ice_breakers", "persistent_menu"):
            if name in body:
                profile[name] = body[name]
        return 200, {"result": "success"}


def _profile_problem(body: dict) -> str:
    breakers = body.get("ice_breakers")
    if breakers is not None:
        locales = [group.get("locale") for group in breakers if isinstance(group, dict)]
        if "default" not in locales:
            return 'Param ice_breakers must have a "default" locale'
        for group in breakers:
            actions = group.get("call_to_actions") or []
            if not actions or len(actions) > ICE_BREAKERS:
                return f"Param ice_breakers[call_to_actions] must have 1 to {ICE_BREAKERS} elements"
            if any(not a.get("question") or not a.get("payload") for a in actions):
                return "Param ice_breakers[call_to_actions] needs a question and a payload"
    menu = body.get("persistent_menu")
    if menu is not None:
        for group in menu:
            items = group.get("call_to_actions") or []
            if problem := _buttons(items, "persistent_menu[call_to_actions]", MENU_ITEMS):
                return problem
    return ""
