"""A staff reply is capped at 2,000 characters, in the inbox as in the API."""

import pytest

from messaging.models import Conversation, Message
from messaging.tests.test_inbox import conversation, page_of  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db


def test_a_staff_reply_over_2000_characters_is_refused_in_the_api(api, conversation):  # noqa: F811
    url = f"/api/conversations/{conversation.pk}/reply/"
    response = api.post(url, {"text": "x" * 2001}, format="json")
    assert response.status_code == 400
    assert "2000" in str(response.json()["text"])
    assert not Message.objects.filter(author=Message.Author.STAFF).exists()
    assert api.post(url, {"text": "x" * 2000}, format="json").status_code == 201


def test_a_staff_reply_over_2000_characters_is_refused_in_the_inbox(
    admin_client,
    conversation,  # noqa: F811
):
    response = admin_client.post(page_of(conversation, "reply/"), {"text": "x" * 2001}, follow=True)
    assert "at most 2000 characters" in response.content.decode()
    assert not Message.objects.filter(author=Message.Author.STAFF).exists()
    assert Conversation.objects.get().bot_paused_until is None
