"""The Graph door's comment calls: where they go, what they send, and Meta's errors mapped to
the exception types callers act on."""

import json

import pytest
import responses

from meta import graph

BASE = "https://graph.facebook.com/v21.0"


@pytest.fixture
def client():
    return graph.InstagramClient(
        "EAAG-token", base_url="https://graph.facebook.com", api_version="v21.0", timeout=5
    )


def error(code, subcode=None, message="(#x) error"):
    body = {"message": message, "type": "OAuthException", "code": code}
    if subcode:
        body["error_subcode"] = subcode
    return {"error": body}


@responses.activate
def test_a_private_reply_goes_to_the_node_with_the_comment_as_recipient(client):
    responses.post(f"{BASE}/1044/messages", json={"recipient_id": "555", "message_id": "m.1"})
    sent = client.send_private_reply("1044", "17865799348089039", "Hi!")
    assert sent == graph.SentMessage(recipient_id="555", message_id="m.1")
    request = responses.calls[0].request
    assert json.loads(request.body) == {
        "recipient": {"comment_id": "17865799348089039"},
        "message": {"text": "Hi!"},
    }
    assert request.headers["Authorization"] == "Bearer EAAG-token"


@pytest.mark.parametrize(
    "answer, exception",
    [
        (error(10900, message="(#10900) Activity already replied to"), graph.AlreadyRepliedError),
        (error(10903), graph.CommentTooOldError),
        (error(10, 2534022), graph.CommentTooOldError),
        (error(613), graph.RateLimitedError),
        (error(190, 463), graph.InvalidTokenError),
        (error(100, 33), graph.PermanentGraphAPIError),
        (error(2), graph.TransientGraphAPIError),
    ],
)
@responses.activate
def test_private_reply_errors_are_mapped(client, answer, exception):
    responses.post(f"{BASE}/1044/messages", json=answer, status=400)
    with pytest.raises(exception) as raised:
        client.send_private_reply("1044", "1", "Hi!")
    assert type(raised.value) is exception
    assert "EAAG-token" not in str(raised.value)


@responses.activate
def test_a_private_reply_without_a_message_id_is_not_retried(client):
    responses.post(f"{BASE}/me/messages", json={"recipient_id": "555"})
    with pytest.raises(graph.PermanentGraphAPIError):
        client.send_private_reply("me", "1", "Hi!")


@responses.activate
def test_a_public_reply_is_posted_under_the_comment(client):
    responses.post(f"{BASE}/17865799348089039/replies", json={"id": "17900000000000001"})
    assert client.reply_to_comment("17865799348089039", "Sent you a DM!") == "17900000000000001"
    assert json.loads(responses.calls[0].request.body) == {"message": "Sent you a DM!"}


@responses.activate
def test_the_media_list_is_read_into_media(client):
    responses.get(
        f"{BASE}/17841400000000001/media",
        json={
            "data": [
                {
                    "id": "1",
                    "caption": "Winter",
                    "media_type": "VIDEO",
                    "media_product_type": "REELS",
                    "thumbnail_url": "https://cdn.example/t.jpg",
                    "permalink": "https://www.instagram.com/reel/x/",
                    "timestamp": "2026-11-25T10:00:00+0000",
                },
                {"id": "2", "media_type": "IMAGE", "media_url": "https://cdn.example/i.jpg"},
                {"caption": "no id: not a post"},
            ]
        },
    )
    posts = client.list_media("17841400000000001")
    assert [post.id for post in posts] == ["1", "2"]
    assert posts[0].thumbnail_url == "https://cdn.example/t.jpg"
    assert posts[1].thumbnail_url == "https://cdn.example/i.jpg"  # an image is its own
    assert "fields=id%2Ccaption" in responses.calls[0].request.url


@responses.activate
def test_a_media_list_without_data_is_an_error(client):
    responses.get(f"{BASE}/1/media", json={"paging": {}})
    with pytest.raises(graph.PermanentGraphAPIError):
        client.list_media("1")


@responses.activate
def test_one_post_is_read_into_media(client):
    responses.get(
        f"{BASE}/17895695668004550",
        json={"id": "17895695668004550", "permalink": "https://www.instagram.com/p/x/"},
    )
    assert client.get_media("17895695668004550").permalink == "https://www.instagram.com/p/x/"
    responses.get(f"{BASE}/1", json={"name": "not a post"})
    with pytest.raises(graph.PermanentGraphAPIError):
        client.get_media("1")
