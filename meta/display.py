"""What staff see of a message we send or a tap we receive: plain data for templates and the
inbox's JSON, so buttons and cards show as buttons and cards, never as JSON."""

from meta import messages


def web_address(url) -> str:
    """`url` if it is a web address (pages draw it as a link or an image), else "": whatever a
    delivery or an answer from the Graph API holds, never a javascript: or data: link."""
    if not isinstance(url, str):
        return ""
    return url if url.strip().lower().startswith(("https://", "http://")) else ""


def attachments_display(attachments) -> list[dict]:
    """A message's stored attachments as pages show them: {"type", "url"}, the url only when
    it is a web address."""
    return [
        {"type": str(item.get("type") or ""), "url": web_address(item.get("url"))}
        for item in attachments or ()
        if isinstance(item, dict)
    ]


def outgoing_display(message: messages.Outgoing) -> dict:
    """{"kind", "text", "quick_replies", "buttons", "cards", "media_kind", "url"} (the
    keys its kind uses)."""
    match message:
        case messages.Text():
            return {
                "kind": "text",
                "text": message.text,
                "quick_replies": [reply.title for reply in message.quick_replies],
            }
        case messages.Buttons():
            return {"kind": "buttons", "text": message.text, "buttons": _buttons(message.buttons)}
        case messages.Cards():
            return {
                "kind": "cards",
                "cards": [
                    {
                        "title": card.title,
                        "subtitle": card.subtitle,
                        "image_url": web_address(card.image_url),
                        "buttons": _buttons(card.buttons),
                    }
                    for card in message.cards
                ],
            }
        case messages.Media():
            return {
                "kind": "media",
                "media_kind": message.media_kind,
                "url": web_address(message.url),
            }
    raise TypeError(message)


def tap_display(details: dict) -> str:
    """What a customer's message tapped, from its stored details ("" if it tapped nothing)."""
    if postback := details.get("postback"):
        return f"Tapped the button “{postback.get('title', '')}”"
    if details.get("quick_reply_payload"):
        return "Tapped a quick reply"
    if referral := details.get("referral"):
        via = f"ad {referral['ad_id']}" if referral.get("ad_id") else "a link"
        ref = f" (ref {referral['ref']})" if referral.get("ref") else ""
        return f"Came from {via}{ref}"
    return ""


def _buttons(buttons) -> list[dict]:
    return [
        {"title": button.title, "url": web_address(button.url), "payload": button.payload}
        for button in buttons
    ]
