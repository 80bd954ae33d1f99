"""The fake Graph API refuses what Meta refuses, so a test that passes against it means
something: quick replies, templates, media, tags, sender actions, the messenger profile."""

import pytest
import requests

from devtools.fake_graph import FakeGraphAPI

RECIPIENT = {"id": "1234567890123456"}


@pytest.fixture(scope="module")
def fake():
    fake = FakeGraphAPI().start()
    yield fake
    fake.stop()


def send(fake, body: dict, token: str = "EAAG-token") -> requests.Response:
    return requests.post(
        f"{fake.base_url}/v23.0/me/messages",
        json={"recipient": RECIPIENT, **body},
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )


def quick_replies(n: int, title: str = "Option") -> list[dict]:
    return [{"content_type": "text", "title": title, "payload": f"P{i}"} for i in range(n)]


def buttons(n: int, title: str = "Button") -> list[dict]:
    return [{"type": "postback", "title": title, "payload": f"P{i}"} for i in range(n)]


def template(payload: dict) -> dict:
    return {"message": {"attachment": {"type": "template", "payload": payload}}}


REFUSED = {
    "14 quick replies": {"message": {"text": "Pick", "quick_replies": quick_replies(14)}},
    "a 21-character quick reply": {
        "message": {"text": "Pick", "quick_replies": quick_replies(1, "x" * 21)}
    },
    "4 buttons": template({"template_type": "button", "text": "Pick", "buttons": buttons(4)}),
    "a 21-character button": template(
        {"template_type": "button", "text": "Pick", "buttons": buttons(1, "y" * 21)}
    ),
    "641 characters of button text": template(
        {"template_type": "button", "text": "z" * 641, "buttons": buttons(1)}
    ),
    "a card with 4 buttons": template(
        {"template_type": "generic", "elements": [{"title": "C", "buttons": buttons(4)}]}
    ),
    "11 cards": template(
        {"template_type": "generic", "elements": [{"title": f"C{i}"} for i in range(11)]}
    ),
    "a card without a title": template({"template_type": "generic", "elements": [{}]}),
    "1001 bytes of text": {"message": {"text": "é" * 501}},
    "text and an attachment": {
        "message": {"text": "hi", "attachment": {"type": "image", "payload": {"url": "https://a"}}}
    },
    "a bot's tag": {
        "message": {"text": "hi"},
        "messaging_type": "MESSAGE_TAG",
        "tag": "ACCOUNT_UPDATE",
    },
    "an unknown sender action": {"sender_action": "dance"},
}


@pytest.mark.parametrize("what", REFUSED)
def test_the_fake_refuses_what_meta_refuses_with_code_100(fake, what):
    response = send(fake, REFUSED[what])
    assert response.status_code == 400
    assert response.json()["error"]["code"] == 100


@pytest.mark.parametrize(
    "body",
    [
        {"message": {"text": "Pick", "quick_replies": quick_replies(13, "x" * 20)}},
        template({"template_type": "button", "text": "z" * 640, "buttons": buttons(3, "y" * 20)}),
        template({"template_type": "generic", "elements": [{"title": f"C{i}"} for i in range(10)]}),
        template({"template_type": "generic", "elements": [{"title": "C", "buttons": buttons(3)}]}),
        {
            "message": {
                "attachment": {"type": "video", "payload": {"url": "https://v.example/a.mp4"}}
            }
        },
        {
            "message": {"text": "Sorry for the wait"},
            "messaging_type": "MESSAGE_TAG",
            "tag": "HUMAN_AGENT",
        },
    ],
)
def test_the_fake_takes_what_meta_takes_at_its_limits(fake, body):
    response = send(fake, body)
    assert response.status_code == 200, response.json()
    assert response.json()["message_id"]


def test_sender_actions_are_answered_without_a_message_id(fake):
    response = send(fake, {"sender_action": "typing_on"})
    assert response.json() == {"recipient_id": RECIPIENT["id"]}


def profile(fake, method: str, token: str = "EAAG-shop", **kwargs) -> requests.Response:
    return requests.request(
        method,
        f"{fake.base_url}/v23.0/me/messenger_profile",
        params={"platform": "instagram", "fields": "ice_breakers,persistent_menu"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
        **kwargs,
    )


def breakers(locale: str, n: int) -> dict:
    actions = [{"question": f"Q{i}?", "payload": f"Q{i}"} for i in range(n)]
    return {"locale": locale, "call_to_actions": actions}


def test_the_fake_keeps_each_accounts_ice_breakers_and_menu(fake):
    body = {
        "platform": "instagram",
        "ice_breakers": [breakers("default", 4), breakers("fr_FR", 1)],
        "persistent_menu": [{"locale": "default", "call_to_actions": buttons(5, "Menu")}],
    }
    assert profile(fake, "POST", json=body).json() == {"result": "success"}
    data = profile(fake, "GET").json()["data"][0]
    assert data["ice_breakers"] == body["ice_breakers"]
    assert profile(fake, "GET", token="EAAG-other").json() == {"data": []}
    profile(fake, "DELETE", json={"fields": ["persistent_menu"]})
    assert "persistent_menu" not in profile(fake, "GET").json()["data"][0]


@pytest.mark.parametrize(
    "ice_breakers",
    [[breakers("default", 5)], [breakers("en_US", 2)]],
    ids=["five in a locale", "no default locale"],
)
def test_the_fake_refuses_ice_breakers_meta_refuses(fake, ice_breakers):
    body = {"platform": "instagram", "ice_breakers": ice_breakers}
    response = profile(fake, "POST", json=body)
    assert response.status_code == 400 and response.json()["error"]["code"] == 100
