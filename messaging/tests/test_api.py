"""/api/conversations/ and /api/messages/: read threads per account, reply as staff."""

import pytest
from django.contrib.auth.models import Permission, User
from rest_framework.test import APIClient

from accounts.models import InstagramBusinessAccount
from messaging.models import Conversation, Message
from messaging.tests.conftest import ACCOUNT_ID, load_payload, queued_sends, with_mid

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(deliver):
    shop = InstagramBusinessAccount(instagram_id=ACCOUNT_ID, name="Shop")
    shop.set_access_token("EAAG-shop")
    shop.save()
    deliver(load_payload("messages__emoji"))
    return shop


def test_conversations_are_listed_and_filtered_by_account_and_status(api, shop):
    listed = api.get("/api/conversations/", {"account": shop.pk}).json()["results"]
    assert [conversation["account"] for conversation in listed] == [shop.pk]
    assert api.get("/api/conversations/", {"account": shop.pk + 1}).json()["results"] == []
    assert api.get("/api/conversations/", {"status": "archived"}).json()["results"] == []


@pytest.mark.parametrize(
    "url", ["/api/conversations/?account=abc", "/api/messages/?conversation=x"]
)
def test_malformed_filters_are_a_400_not_a_500(api, shop, url):
    response = api.get(url)
    assert response.status_code == 400
    assert "Expected an id" in response.content.decode()


def test_a_thread_is_read_oldest_first_with_unicode_intact(api, shop):
    conversation = Conversation.objects.get()
    thread = api.get(f"/api/conversations/{conversation.pk}/messages/").json()["results"]
    assert [m["author"] for m in thread] == ["customer", "bot"]
    assert thread[0]["text"] == "Ça marche 👍🏽 — 日本語もOK 🇯🇵"


def test_messages_are_filtered(api, shop):
    conversation = Conversation.objects.get()
    assert len(api.get("/api/messages/", {"account": shop.pk}).json()["results"]) == 2
    assert api.get("/api/messages/", {"account": shop.pk + 1}).json()["results"] == []
    outgoing = api.get(
        "/api/messages/", {"conversation": conversation.pk, "direction": "out"}
    ).json()
    assert [m["author"] for m in outgoing["results"]] == ["bot"]
    assert api.get("/api/messages/", {"status": "sent"}).json()["results"] == []


def test_staff_reply_is_queued_through_the_same_queue(api, shop, admin_user):
    conversation = Conversation.objects.get()
    response = api.post(
        f"/api/conversations/{conversation.pk}/reply/", {"text": "Hi! 👋"}, format="json"
    )
    assert response.status_code == 201
    [part] = response.json()
    assert (part["author"], part["status"], part["sent_by"]) == ("staff", "queued", "admin")
    assert queued_sends().filter(pk=part["id"]).exists()
    conversation.refresh_from_db()
    assert conversation.bot_is_paused()


@pytest.mark.parametrize("body", [{}, {"text": ""}, {"text": "   "}])
def test_an_empty_reply_is_a_400(api, shop, body):
    conversation = Conversation.objects.get()
    response = api.post(f"/api/conversations/{conversation.pk}/reply/", body, format="json")
    assert response.status_code == 400
    assert "text" in response.json()
    assert not Message.objects.filter(author="staff").exists()


def test_a_user_who_may_only_view_cannot_reply(shop, deliver):
    viewer = User.objects.create_user("viewer", password="pw-viewer-123", is_staff=True)
    granted = ["view_conversation", "view_message", "see_all_accounts"]
    viewer.user_permissions.add(*Permission.objects.filter(codename__in=granted))
    client = APIClient()
    client.force_authenticate(viewer)
    conversation = Conversation.objects.get()
    assert client.get(f"/api/conversations/{conversation.pk}/messages/").status_code == 200
    response = client.post(
        f"/api/conversations/{conversation.pk}/reply/", {"text": "hi"}, format="json"
    )
    assert response.status_code == 403
    assert not Message.objects.filter(author="staff").exists()


def test_conversations_cannot_be_written_directly(api, shop):
    conversation = Conversation.objects.get()
    assert api.delete(f"/api/conversations/{conversation.pk}/").status_code == 405
    assert api.post("/api/messages/", {"text": "x"}, format="json").status_code == 405


def test_threads_are_paginated(api, shop, deliver, settings):
    settings.FALLBACK_COOLDOWN_HOURS = 0
    for n in range(60):
        deliver(with_mid(load_payload("messages__text"), f"bulk-{n}"))
    conversation = Conversation.objects.get()
    page = api.get(f"/api/conversations/{conversation.pk}/messages/").json()
    assert len(page["results"]) == 50
    assert page["next"]


def staff_client(*codenames):
    """A staff user with these permissions, on every account (access per account is tested in
    inbox/tests/test_access_per_account.py)."""
    user = User.objects.create_user("clerk", password="pw-clerk-123", is_staff=True)
    codenames = [*codenames, "see_all_accounts"]
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_the_bot_is_paused_until_resumed_through_the_api(shop):
    # Staff who may change conversations, and nothing more, pause and resume the bot.
    client = staff_client("view_conversation", "change_conversation")
    conversation = Conversation.objects.get()
    assert client.get(f"/api/conversations/{conversation.pk}/").json()["bot_silence"] is None

    paused = client.post(f"/api/conversations/{conversation.pk}/pause/")
    assert paused.status_code == 200
    assert paused.json()["bot_silence"] == "paused"
    assert paused.json()["bot_paused_at"] is not None
    conversation.refresh_from_db()
    assert conversation.bot_silence() == Conversation.BotSilence.PAUSED

    resumed = client.post(f"/api/conversations/{conversation.pk}/resume/")
    assert resumed.status_code == 200
    assert (resumed.json()["bot_silence"], resumed.json()["bot_paused_at"]) == (None, None)
    conversation.refresh_from_db()
    assert not conversation.bot_is_paused()


def test_pausing_cancels_the_bot_replies_still_queued(api, shop):
    conversation = Conversation.objects.get()
    assert Message.objects.get(author="bot").status == "queued"
    api.post(f"/api/conversations/{conversation.pk}/pause/")
    assert Message.objects.get(author="bot").status == "cancelled"


def test_a_staff_reply_shows_as_a_takeover_that_resume_ends(api, shop):
    conversation = Conversation.objects.get()
    api.post(f"/api/conversations/{conversation.pk}/reply/", {"text": "Hi"}, format="json")
    listed = api.get("/api/conversations/").json()["results"][0]
    assert listed["bot_silence"] == "taken_over"
    assert listed["bot_paused_until"] is not None
    resumed = api.post(f"/api/conversations/{conversation.pk}/resume/").json()
    assert (resumed["bot_silence"], resumed["bot_paused_until"]) == (None, None)


@pytest.mark.parametrize("command", ["pause", "resume", "reply"])
def test_pause_resume_and_reply_need_the_change_permission(shop, command):
    client = staff_client("view_conversation", "view_message", "add_conversation")
    conversation = Conversation.objects.get()
    response = client.post(
        f"/api/conversations/{conversation.pk}/{command}/", {"text": "hi"}, format="json"
    )
    assert response.status_code == 403
    assert "messaging.change_conversation" in response.json()["detail"]
    conversation.refresh_from_db()
    assert conversation.bot_paused_at is None
    assert not Message.objects.filter(author="staff").exists()


def test_a_staff_user_with_the_change_permission_can_reply(shop):
    # A POST means "add" to the default permission class; a reply is a change.
    client = staff_client("view_conversation", "change_conversation")
    conversation = Conversation.objects.get()
    response = client.post(
        f"/api/conversations/{conversation.pk}/reply/", {"text": "hi"}, format="json"
    )
    assert response.status_code == 201


@pytest.mark.parametrize("command", ["pause", "resume"])
def test_non_staff_cannot_pause_or_resume(shop, command):
    user = User.objects.create_user("customer", password="pw-customer-123")
    user.user_permissions.add(*Permission.objects.filter(codename="change_conversation"))
    client = APIClient()
    client.force_authenticate(user)
    conversation = Conversation.objects.get()
    assert client.post(f"/api/conversations/{conversation.pk}/{command}/").status_code == 403


def test_pausing_an_unknown_conversation_is_a_404(api):
    assert api.post("/api/conversations/999999/pause/").status_code == 404
