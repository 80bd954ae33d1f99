"""The Graph door's mention calls: reading the mentioning comment or caption through the IG
User node, answering in public through /{ig-user-id}/mentions, and Meta's errors mapped."""

import json
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from comments.tests.test_graph_door import BASE, client, error  # noqa: F401  (a fixture)
from meta import graph

IG_ID = "17841400000000001"


def asked(call) -> dict:
    return {key: values[0] for key, values in parse_qs(urlsplit(call.request.url).query).items()}


@responses.activate
def test_the_mentioning_comment_is_read_through_the_ig_user_node(client):  # noqa: F811
    responses.get(
        f"{BASE}/{IG_ID}",
        json={
            "mentioned_comment": {
                "id": "17894227972186120",
                "text": "@fake.business price?",
                "username": "jacket.fan",
                "timestamp": "2026-12-03T07:00:00+0000",
                "media": {"id": "17887498072083520", "permalink": "https://www.instagram.com/p/x/"},
            },
            "id": IG_ID,
        },
    )
    read = client.get_mentioned_comment(IG_ID, "17894227972186120")
    assert read == graph.MentionedComment(
        id="17894227972186120",
        text="@fake.business price?",
        username="jacket.fan",
        timestamp="2026-12-03T07:00:00+0000",
        media_id="17887498072083520",
        permalink="https://www.instagram.com/p/x/",
    )
    assert asked(responses.calls[0])["fields"] == (
        "mentioned_comment.comment_id(17894227972186120)"
        "{id,text,username,timestamp,media{id,permalink}}"
    )
    assert responses.calls[0].request.headers["Authorization"] == "Bearer EAAG-token"


@responses.activate
def test_a_caption_mention_is_read_as_the_mentioned_media(client):  # noqa: F811
    responses.get(
        f"{BASE}/{IG_ID}",
        json={
            "mentioned_media": {
                "caption": "Wearing @fake.business today",
                "permalink": "https://www.instagram.com/p/y/",
                "username": "jacket.fan",
                "id": "17887498072083520",
            },
            "id": IG_ID,
        },
    )
    read = client.get_mentioned_media(IG_ID, "17887498072083520")
    assert read.caption == "Wearing @fake.business today"
    assert read.username == "jacket.fan"
    assert asked(responses.calls[0])["fields"] == (
        "mentioned_media.media_id(17887498072083520){caption,permalink,username}"
    )


@responses.activate
def test_an_answer_without_the_mention_is_a_permanent_error(client):  # noqa: F811
    responses.get(f"{BASE}/{IG_ID}", json={"id": IG_ID})
    with pytest.raises(graph.PermanentGraphAPIError):
        client.get_mentioned_comment(IG_ID, "1")
    with pytest.raises(graph.PermanentGraphAPIError):
        client.get_mentioned_media(IG_ID, "1")


@responses.activate
def test_a_mention_is_answered_under_the_mentioning_comment(client):  # noqa: F811
    responses.post(f"{BASE}/{IG_ID}/mentions", json={"id": "17900000000000009"})
    reply_id = client.reply_to_mention(IG_ID, "17887498072083520", "17894227972186120", "Thanks!")
    assert reply_id == "17900000000000009"
    assert json.loads(responses.calls[0].request.body) == {
        "media_id": "17887498072083520",
        "comment_id": "17894227972186120",
        "message": "Thanks!",
    }


@responses.activate
def test_a_caption_mention_is_answered_without_a_comment_id(client):  # noqa: F811
    responses.post(f"{BASE}/{IG_ID}/mentions", json={"id": "17900000000000010"})
    client.reply_to_mention(IG_ID, "17887498072083520", "", "Thanks!")
    assert json.loads(responses.calls[0].request.body) == {
        "media_id": "17887498072083520",
        "message": "Thanks!",
    }


@responses.activate
def test_a_mention_reply_without_an_id_is_not_retried(client):  # noqa: F811
    responses.post(f"{BASE}/{IG_ID}/mentions", json={"success": True})
    with pytest.raises(graph.PermanentGraphAPIError):
        client.reply_to_mention(IG_ID, "1", "2", "Thanks!")


@pytest.mark.parametrize(
    "answer, exception",
    [
        (error(100, message="(#100) Invalid parameter"), graph.PermanentGraphAPIError),
        (
            error(10, message="(#10) Application does not have permission"),
            graph.PermanentGraphAPIError,
        ),
        (error(190, 463), graph.InvalidTokenError),
        (error(4), graph.RateLimitedError),
        (error(2), graph.TransientGraphAPIError),
    ],
)
@responses.activate
def test_mention_errors_are_mapped(client, answer, exception):  # noqa: F811
    responses.get(f"{BASE}/{IG_ID}", json=answer, status=400)
    responses.post(f"{BASE}/{IG_ID}/mentions", json=answer, status=400)
    with pytest.raises(exception) as read:
        client.get_mentioned_comment(IG_ID, "1")
    with pytest.raises(exception) as replied:
        client.reply_to_mention(IG_ID, "1", "2", "Thanks!")
    assert type(read.value) is exception and type(replied.value) is exception
    assert "EAAG-token" not in str(read.value)
