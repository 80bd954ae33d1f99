"""The staff inbox in Django admin: conversations, threads, replies, commands, retries."""

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from accounts.models import InstagramBusinessAccount
from messaging.models import Conversation, Message
from messaging.tests.conftest import answer_send, load_payload, queued_sends, with_mid

pytestmark = pytest.mark.django_db

LIST = "/admin/messaging/conversation/"


def page_of(conversation, suffix="change/"):
    return f"{LIST}{conversation.pk}/{suffix}"


@pytest.fixture
def conversation(deliver):
    deliver(load_payload("messages__emoji"))
    deliver(load_payload("messages__image"))
    conversation = Conversation.objects.get()
    Conversation.objects.filter(pk=conversation.pk).update(customer_username="jacket.fan")
    conversation.refresh_from_db()
    return conversation


def staff_user(*codenames):
    user = User.objects.create_user(
        f"staff-{len(codenames)}", password="pw-staff-123", is_staff=True
    )
    # These tests are about permissions, not accounts: the user sees every account.
    granted = [*codenames, "see_all_accounts"]
    user.user_permissions.add(*Permission.objects.filter(codename__in=granted))
    return user


# --- the list ---


def test_list_shows_customer_account_status_time_and_a_preview(admin_client, conversation):
    page = admin_client.get(LIST).content.decode()
    assert "@jacket.fan" in page
    assert conversation.instagram_account_id in page
    assert "Active" in page
    assert "[image]" in page  # the newest message, as a preview (a photo has no text)


def test_list_preview_is_the_newest_text(admin_client, conversation, deliver):
    deliver(with_mid(load_payload("messages__text"), "m-newest", "Is it in stock?"))
    assert "Is it in stock?" in admin_client.get(LIST).content.decode()


@pytest.mark.parametrize("query", ["jacket.fan", "marche"])  # a username, a message's text
def test_list_search_finds_by_username_and_text(admin_client, conversation, query):
    page = admin_client.get(LIST, {"q": query}).content.decode()
    assert "@jacket.fan" in page
    assert "1 conversation" in page


def test_list_filters_by_status_and_account(admin_client, conversation):
    conversation.set_status(Conversation.Status.ARCHIVED)
    assert "@jacket.fan" not in admin_client.get(LIST, {"status__exact": "active"}).content.decode()
    assert "@jacket.fan" in admin_client.get(LIST, {"status__exact": "archived"}).content.decode()
    shop = InstagramBusinessAccount.objects.create(instagram_id="999", name="Other shop")
    assert (
        "@jacket.fan"
        not in admin_client.get(LIST, {"account__id__exact": shop.pk}).content.decode()
    )
    Conversation.objects.update(account=shop)
    page = admin_client.get(LIST, {"account__id__exact": shop.pk}).content.decode()
    assert "@jacket.fan" in page
    assert "Other shop" in page


def test_list_actions_archive_unarchive_pause_resume(admin_client, conversation):
    def act(action):
        admin_client.post(LIST, {"action": action, "_selected_action": [conversation.pk]})
        conversation.refresh_from_db()

    act("archive")
    assert conversation.status == "archived"
    act("unarchive")
    assert conversation.status == "active"
    act("pause_bot")
    assert conversation.bot_is_paused()
    act("resume_bot")
    assert not conversation.bot_is_paused()


# --- the thread ---


def test_thread_shows_bubbles_in_and_out_with_time_status_and_attachments(
    admin_client, conversation
):
    page = admin_client.get(page_of(conversation)).content.decode()
    assert page.count('class="bubble in') == 2
    assert page.count('class="bubble out') == 1
    assert "Ça marche 👍🏽 — 日本語もOK 🇯🇵" in page
    assert "Bot (fallback)" in page
    assert "Queued" in page  # the reply's delivery status
    assert (
        '<img src="https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=111&amp;signature=abc"'
        in page
    )
    assert 'id="reply-form"' in page


def test_a_long_thread_costs_a_fixed_number_of_queries(
    admin_client, admin_user, conversation, django_assert_max_num_queries
):
    from messaging.replies import send_staff_reply

    for n in range(30):
        send_staff_reply(conversation, f"reply {n}", admin_user)
    with django_assert_max_num_queries(15):
        assert admin_client.get(page_of(conversation, "thread/")).status_code == 200


def test_thread_endpoint_serves_the_thread_alone(admin_client, conversation):
    response = admin_client.get(page_of(conversation, "thread/"))
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="thread"')
    assert 'data-in-flight="true"' in html
    assert "<html" not in html


def test_deleted_and_failed_messages_say_so(admin_client, conversation, deliver):
    Message.objects.filter(author="bot").update(status="failed", last_error="Graph API error 551")
    deliver(with_mid(load_payload("messages__deleted"), "aWdfZAG1faW1zZAzpZAFYZD_emoji"))
    page = admin_client.get(page_of(conversation)).content.decode()
    assert "Deleted by the customer." in page
    assert "Graph API error 551" in page


# --- replying ---


def test_staff_reply_is_queued_sent_by_the_worker_and_recorded_with_its_author(
    admin_client, admin_user, conversation, graph_api, run_worker
):
    response = admin_client.post(page_of(conversation, "reply/"), {"text": "Hello from Alice"})
    assert response.status_code == 302
    assert response["Location"] == page_of(conversation)
    message = Message.objects.get(author="staff")
    assert (message.text, message.sent_by, message.status) == (
        "Hello from Alice",
        admin_user,
        "queued",
    )
    assert queued_sends().filter(pk=message.pk).exists()

    answer_send(graph_api, message_id="aWdfZAG1staff")
    run_worker()
    page = admin_client.get(page_of(conversation)).content.decode()
    assert "Hello from Alice" in page
    assert "admin (inbox)" in page
    message.refresh_from_db()
    assert message.status == "sent"


def test_an_empty_reply_is_refused(admin_client, conversation):
    response = admin_client.post(page_of(conversation, "reply/"), {"text": "   "}, follow=True)
    assert "Write something to send." in response.content.decode()
    assert not Message.objects.filter(author="staff").exists()


def test_a_reply_needs_post(admin_client, conversation):
    assert admin_client.get(page_of(conversation, "reply/")).status_code == 405


def test_commands_on_the_conversation_page(admin_client, conversation):
    for command, check in [
        ("archive", lambda c: c.status == "archived"),
        ("unarchive", lambda c: c.status == "active"),
        ("pause", lambda c: c.bot_is_paused()),
        ("resume", lambda c: not c.bot_is_paused()),
    ]:
        response = admin_client.post(page_of(conversation, f"do/{command}/"))
        assert response.status_code == 302
        conversation.refresh_from_db()
        assert check(conversation), command
    assert admin_client.post(page_of(conversation, "do/explode/")).status_code == 403
    assert admin_client.get(page_of(conversation, "do/archive/")).status_code == 405


# --- permissions ---


def test_a_user_who_may_only_view_reads_but_cannot_send_or_command(client, conversation):
    client.force_login(staff_user("view_conversation", "view_message"))
    page = client.get(page_of(conversation))
    assert page.status_code == 200
    assert "Ça marche" in page.content.decode()
    assert 'id="reply-form"' not in page.content.decode()
    assert "can read this conversation but not answer it" in page.content.decode()

    assert client.post(page_of(conversation, "reply/"), {"text": "sneaky"}).status_code == 403
    assert client.post(page_of(conversation, "do/pause/")).status_code == 403
    assert not Message.objects.filter(author="staff").exists()
    assert not Conversation.objects.get().bot_is_paused()


def test_a_user_without_permissions_sees_nothing(client, conversation):
    client.force_login(staff_user())
    assert client.get(page_of(conversation)).status_code == 403
    assert client.get(page_of(conversation, "thread/")).status_code == 403


def test_the_inbox_is_staff_only(client, conversation):
    client.force_login(User.objects.create_user("customer", password="pw-customer-123"))
    response = client.post(page_of(conversation, "reply/"), {"text": "hi"})
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    assert not Message.objects.filter(author="staff").exists()


def test_replies_are_csrf_protected(conversation, admin_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    assert client.post(page_of(conversation, "reply/"), {"text": "hi"}).status_code == 403
    assert client.post(page_of(conversation, "do/archive/")).status_code == 403


# --- the message admin ---


def test_messages_are_read_only_and_filterable(admin_client, conversation):
    page = admin_client.get(
        "/admin/messaging/message/", {"direction__exact": "out"}
    ).content.decode()
    assert "Thanks for your message!" in page
    assert "Ça marche" not in page
    page = admin_client.get(
        "/admin/messaging/message/", {"status__exact": "queued"}
    ).content.decode()
    assert "Thanks for your message!" in page
    message = Message.objects.get(author="bot")
    assert (
        admin_client.post(f"/admin/messaging/message/{message.pk}/change/", {}).status_code == 403
    )


def test_failed_messages_can_be_retried_by_an_action(
    admin_client, deliver, graph_api, run_worker, settings
):
    settings.DEFAULT_REPLY_TEXT = "z" * 1500  # two parts
    answer_send(graph_api, status=400, error={"message": "Unavailable", "code": 551})
    deliver(load_payload("messages__text"))
    run_worker()
    first, second = Message.objects.filter(author="bot").order_by("part")
    assert (first.status, second.status) == ("failed", "failed")

    response = admin_client.post(
        "/admin/messaging/message/",
        {"action": "retry", "_selected_action": [second.pk]},
        follow=True,
    )
    assert "Queued 1 message again." in response.content.decode()
    answer_send(graph_api, message_id="aWdfZAG1p1")
    answer_send(graph_api, message_id="aWdfZAG1p2")
    run_worker()
    assert list(
        Message.objects.filter(author="bot").order_by("part").values_list("status", "mid")
    ) == [("sent", "aWdfZAG1p1"), ("sent", "aWdfZAG1p2")]


def test_retry_skips_what_is_not_a_failed_outgoing_message(admin_client, conversation):
    incoming = Message.objects.filter(direction="in").first()
    response = admin_client.post(
        "/admin/messaging/message/",
        {"action": "retry", "_selected_action": [incoming.pk]},
        follow=True,
    )
    assert "Queued 0 messages again. 1 skipped" in response.content.decode()


def test_only_users_who_may_change_conversations_can_retry(client, conversation):
    client.force_login(staff_user("view_message"))
    page = client.get("/admin/messaging/message/").content.decode()
    assert 'value="retry"' not in page
