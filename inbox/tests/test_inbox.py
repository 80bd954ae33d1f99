"""The staff inbox (/inbox/): who needs a reply, unread, filters, sending, commands, snippets."""

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test.utils import CaptureQueriesContext

from inbox.models import Note, SavedReply
from inbox.tests.conftest import SHOP_A_ID, dm, staff
from messaging import outbox
from messaging.models import Conversation, Message
from rules.models import ResponseRule

pytestmark = pytest.mark.django_db


def fail_send(message: Message, reason: str) -> None:
    """Meta refused it for good: recorded as the outbox's sender records it."""
    outbox.outcomes.record(outbox.kind_named("dm"), message, outbox.NotSent(reason))


UPDATES = "/inbox/updates"


def url(conversation, action=""):
    return f"/inbox/c/{conversation.pk}" + (f"/{action}" if action else "")


def conversation_of(customer_id) -> Conversation:
    return Conversation.objects.get(customer_id=customer_id)


def listed(client, **query):
    response = client.get(UPDATES, query)
    assert response.status_code == 200
    return response.json()


@pytest.fixture
def hours_rule(db):
    return ResponseRule.objects.create(keywords="hours", response_text="We open at 9.")


@pytest.fixture
def two_customers(deliver, shop_a, hours_rule):
    """A fallback-answered customer (older), then one a rule answered (newer)."""
    deliver(dm(SHOP_A_ID, "100", "m-fallback", "Can I return a gift?"))
    deliver(dm(SHOP_A_ID, "200", "m-rule", "What are your hours?"))
    return conversation_of("100"), conversation_of("200")


def test_the_inbox_page_is_for_staff(client, admin_client):
    assert client.get("/inbox/").status_code == 302  # to the login page
    page = admin_client.get("/inbox/")
    assert page.status_code == 200
    assert "Needs a reply" in page.content.decode()


def test_a_dm_answered_by_the_fallback_needs_a_reply_and_comes_first(admin_client, two_customers):
    fallback_answered, rule_answered = two_customers
    data = listed(admin_client)
    assert data["needs_reply"] == 1
    assert [c["id"] for c in data["conversations"]] == [fallback_answered.pk, rule_answered.pk]
    assert data["conversations"][0]["needs_reply"] is True
    assert data["conversations"][1]["needs_reply"] is False


def test_a_persons_answer_clears_needs_a_reply(admin_client, two_customers):
    fallback_answered, _ = two_customers
    response = admin_client.post(url(fallback_answered, "reply"), {"text": "Yes, within 30 days."})
    assert response.status_code == 201
    assert response.json()["messages"][0]["status"] == "queued"
    assert listed(admin_client)["needs_reply"] == 0
    staff_reply = Message.objects.get(author=Message.Author.STAFF)
    assert staff_reply.sent_by.username == "admin"


def test_a_dm_the_paused_bot_does_not_answer_needs_a_reply(admin_client, deliver, shop_a):
    deliver(dm(SHOP_A_ID, "100", "m-1", "hello"))
    conversation = conversation_of("100")
    admin_client.post(url(conversation, "reply"), {"text": "Hi!"})
    admin_client.post(url(conversation, "pause"))
    assert not conversation_of("100").needs_reply
    deliver(dm(SHOP_A_ID, "100", "m-2", "are you there?"))
    assert conversation_of("100").needs_reply


def test_a_failed_bot_reply_needs_a_person(deliver, shop_a, hours_rule):
    deliver(dm(SHOP_A_ID, "200", "m-rule", "hours?"))
    reply = Message.objects.get(author=Message.Author.BOT)
    assert not conversation_of("200").needs_reply
    fail_send(Message.objects.get(pk=reply.pk), "(#551) This person isn't available")
    assert conversation_of("200").needs_reply


@pytest.mark.parametrize("no_text_reply", ["fallback", "none", "Nice photo! A person will look."])
def test_a_dm_without_text_no_rule_answers_needs_a_reply(settings, deliver, shop_a, no_text_reply):
    settings.NO_TEXT_REPLY = no_text_reply
    photo = dm(SHOP_A_ID, "100", "m-photo", "", payload="messages__image")
    del photo["entry"][0]["messaging"][0]["message"]["text"]
    deliver(photo)
    assert conversation_of("100").needs_reply


def test_a_person_answering_from_the_instagram_app_clears_needs_a_reply(
    admin_client, deliver, shop_a
):
    from messaging.tests.conftest import load_payload

    deliver(dm(SHOP_A_ID, "1234567890123456", "m-1", "Do you have it in M?"))
    assert listed(admin_client)["needs_reply"] == 1
    deliver(load_payload("messages__echo"))  # staff answered in the Instagram app
    assert listed(admin_client)["needs_reply"] == 0
    assert not conversation_of("1234567890123456").needs_reply


def test_a_persons_reply_that_fails_needs_a_person_again_and_shows_why(
    admin_client, deliver, shop_a, hours_rule
):
    deliver(dm(SHOP_A_ID, "100", "m-1", "Can I return a gift?"))
    admin_client.post(url(conversation_of("100"), "reply"), {"text": "Yes."})
    assert not conversation_of("100").needs_reply
    staff_reply = Message.objects.get(author=Message.Author.STAFF)
    fail_send(staff_reply, "(#10) This message is sent outside of allowed window.")
    assert conversation_of("100").needs_reply
    thread = admin_client.get(url(conversation_of("100"))).json()["messages"]
    failed = next(m for m in thread if m["id"] == staff_reply.pk)
    assert (failed["status"], failed["error"]) == (
        "failed",
        "(#10) This message is sent outside of allowed window.",
    )


def test_unread_is_per_staff_user(client, deliver, shop_a):
    alice, bob = staff("alice", all_accounts=True), staff("bob", all_accounts=True)
    deliver(dm(SHOP_A_ID, "100", "m-1", "hello"))
    conversation = conversation_of("100")
    newest = conversation.messages.filter(direction="in").latest("id")

    client.force_login(alice)
    assert listed(client)["conversations"][0]["unread"] is True
    assert client.post(url(conversation, "read"), {"message": newest.pk}).status_code == 204
    assert listed(client)["conversations"][0]["unread"] is False
    client.force_login(bob)
    assert listed(client)["conversations"][0]["unread"] is True

    deliver(dm(SHOP_A_ID, "100", "m-2", "hello again"))
    client.force_login(alice)
    assert listed(client)["conversations"][0]["unread"] is True


def test_filters_account_mine_unassigned_resolved(client, deliver, shop_a, shop_b):
    me = staff("me", all_accounts=True)
    client.force_login(me)
    deliver(dm(SHOP_A_ID, "100", "m-1", "hello"))
    deliver(dm(shop_b.instagram_id, "200", "m-2", "hello"))
    deliver(dm(SHOP_A_ID, "300", "m-3", "hello"))
    a1, b, a2 = conversation_of("100"), conversation_of("200"), conversation_of("300")
    assert client.post(url(a1, "assign"), {"user": me.pk}).status_code == 200
    assert client.post(url(a2, "resolve")).status_code == 200

    def ids(**query):
        return {c["id"] for c in listed(client, **query)["conversations"]}

    assert ids() == {a1.pk, b.pk}
    assert ids(account=shop_b.pk) == {b.pk}
    assert ids(view="mine") == {a1.pk}
    assert ids(view="unassigned") == {b.pk}
    assert ids(view="resolved") == {a2.pk}
    assert client.get(UPDATES, {"view": "everything"}).status_code == 400
    assert client.get(UPDATES, {"account": "shop"}).status_code == 400


def test_the_lists_heading_counts_who_needs_a_reply_under_the_filters_the_title_all(
    client, deliver, shop_a, shop_b
):
    me = staff("me", all_accounts=True)
    client.force_login(me)
    deliver(dm(SHOP_A_ID, "100", "m-1", "hello"))  # both answered by the fallback
    deliver(dm(shop_b.instagram_id, "200", "m-2", "hello"))
    client.post(url(conversation_of("100"), "assign"), {"user": me.pk})

    def counts(**query):
        body = listed(client, **query)
        return body["needs_reply"], body["needs_reply_listed"]

    assert counts() == (2, 2)
    assert counts(view="mine") == (2, 1)
    assert counts(account=shop_b.pk) == (2, 1)
    assert counts(view="resolved") == (2, 0)


def test_resolving_clears_needs_a_reply_and_a_customer_message_reopens(
    admin_client, deliver, two_customers
):
    fallback_answered, _ = two_customers
    admin_client.post(url(fallback_answered, "resolve"))
    fallback_answered.refresh_from_db()
    assert (fallback_answered.status, fallback_answered.needs_reply) == ("archived", False)

    deliver(dm(SHOP_A_ID, "100", "m-again", "One more question"))
    fallback_answered.refresh_from_db()
    assert fallback_answered.status == "active"
    # The bot's fallback is in its cooldown: nobody answered, so a person is needed again.
    assert fallback_answered.needs_reply is True

    admin_client.post(url(fallback_answered, "resolve"))
    admin_client.post(url(fallback_answered, "reopen"))
    assert conversation_of("100").status == "active"


def test_assigning_only_to_staff_who_see_the_account(client, deliver, shop_a, shop_b):
    manager = staff("manager", all_accounts=True)
    outsider = staff("outsider", shop_b)
    colleague = staff("colleague", shop_a)
    deliver(dm(SHOP_A_ID, "100", "m-1", "hello"))
    conversation = conversation_of("100")
    client.force_login(manager)
    offered = [u["username"] for u in client.get(url(conversation)).json()["staff"]]
    assert offered == ["colleague", "manager"]
    assert client.post(url(conversation, "assign"), {"user": outsider.pk}).status_code == 400
    assert client.post(url(conversation, "assign"), {"user": colleague.pk}).status_code == 200
    assert conversation_of("100").assigned_to == colleague
    client.post(url(conversation, "assign"), {"user": ""})
    assert conversation_of("100").assigned_to is None


def test_the_open_thread_follows_a_reply_from_queued_to_sent(
    admin_client, deliver, shop_a, run_worker, fake_graph, settings
):
    settings.GRAPH_API_BASE_URL = fake_graph.base_url
    deliver(dm(SHOP_A_ID, "100", "m-1", "hello"))
    conversation = conversation_of("100")
    opened = admin_client.get(url(conversation)).json()
    last = opened["messages"][-1]["id"]
    sent = admin_client.post(url(conversation, "reply"), {"text": "Hi there"}).json()
    reply_id = sent["messages"][0]["id"]

    run_worker()
    news = listed(admin_client, open=conversation.pk, after=reply_id, pending=f"{last},{reply_id}")
    statuses = {m["id"]: m["status"] for m in news["messages"]}
    assert statuses[reply_id] == "sent"
    news = listed(admin_client, open=conversation.pk, after=last)
    assert [m["text"] for m in news["messages"]] == ["Hi there"]


def test_an_empty_reply_is_refused(admin_client, deliver, shop_a):
    deliver(dm(SHOP_A_ID, "100", "m-1", "hello"))
    response = admin_client.post(url(conversation_of("100"), "reply"), {"text": "   "})
    assert response.status_code == 400
    assert not Message.objects.filter(author=Message.Author.STAFF).exists()


def test_a_user_who_may_only_view_cannot_answer_or_command(client, deliver, shop_a):
    viewer = User.objects.create_user("viewer", password="pw-viewer-123", is_staff=True)
    viewer.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_conversation", "see_all_accounts"])
    )
    deliver(dm(SHOP_A_ID, "100", "m-1", "hello"))
    conversation = conversation_of("100")
    client.force_login(viewer)
    assert client.get(url(conversation)).status_code == 200
    assert client.post(url(conversation, "reply"), {"text": "hi"}).status_code == 403
    assert client.post(url(conversation, "resolve")).status_code == 403
    assert conversation_of("100").status == "active"


def test_commands_pause_resume_and_notes(admin_client, deliver, shop_a):
    deliver(dm(SHOP_A_ID, "100", "m-1", "hello"))
    conversation = conversation_of("100")
    assert admin_client.post(url(conversation, "pause")).json()["conversation"]["bot_paused"]
    assert not admin_client.post(url(conversation, "resume")).json()["conversation"]["bot_paused"]
    card = admin_client.post(url(conversation, "note"), {"text": "VIP, wants blue"}).json()
    assert card["customer"]["notes"][0]["text"] == "VIP, wants blue"
    assert Note.objects.get().author.username == "admin"
    assert admin_client.post(url(conversation, "explode")).status_code == 400
    assert admin_client.get(url(conversation, "resolve")).status_code == 405


def test_the_customer_pane_says_where_they_came_from(admin_client, deliver, shop_a):
    deliver(dm(SHOP_A_ID, "100", "m-ad", "I saw your ad", payload="messages__referral"))
    card = admin_client.get(url(conversation_of("100"))).json()["customer"]
    assert card["origin"] == "an ad (ref spring_sale)"
    assert card["account"] == "Alpha (@alpha)"


def test_saved_replies_offered_are_shared_and_the_users_accounts(client, shop_a, shop_b):
    SavedReply.objects.create(shortcut="hours", text="We open at 9.")
    SavedReply.objects.create(shortcut="returns", text="30 days.", account=shop_a)
    SavedReply.objects.create(shortcut="secret", text="Bravo only", account=shop_b)
    client.force_login(staff("limited", shop_a))
    page = client.get("/inbox/").content.decode()
    assert "We open at 9." in page and "30 days." in page
    assert "Bravo only" not in page


def test_a_page_of_the_list_costs_the_same_queries_whatever_its_length(
    admin_client, deliver, shop_a
):
    def queries():
        with CaptureQueriesContext(connection) as captured:
            listed(admin_client)
        return len(captured)

    deliver(dm(SHOP_A_ID, "100", "m-1", "hello"))
    few = queries()
    for n in range(12):
        deliver(dm(SHOP_A_ID, f"2{n:02}", f"m-many-{n}", "hello"))
    assert queries() == few


def test_a_saved_reply_is_capped_as_a_staff_reply_is(api):
    response = api.post("/api/saved-replies/", {"shortcut": "big", "text": "x" * 2001})
    assert response.status_code == 400
    assert "2000" in str(response.json()["text"])
    taken = api.post("/api/saved-replies/", {"shortcut": "ok", "text": "x" * 2000})
    assert taken.status_code == 201


@pytest.mark.parametrize("text, says", [("x" * 2001, "2000"), ("nul\x00", "Null characters")])
def test_a_reply_the_inbox_refuses_says_why(admin_client, deliver, text, says):
    deliver(dm(SHOP_A_ID, "100", "m-1", "hello"))
    conversation = Conversation.objects.get()
    response = admin_client.post(f"/inbox/c/{conversation.pk}/reply", {"text": text})
    assert response.status_code == 400
    assert says in response.json()["error"]


@pytest.mark.skipif(
    connection.vendor != "sqlite",
    reason="PostgreSQL and MariaDB plan tiny tables as scans: the bench checks them at size",
)
@pytest.mark.parametrize("view", ["all", "resolved"])
def test_the_lists_order_is_read_from_an_index_not_sorted(admin_user, view):
    from inbox import listing

    filters = listing.ListFilters(view=view)
    page = listing.filtered(admin_user, filters).order_by(*listing.ORDER)
    plan = page[: listing.PAGE_SIZE].explain()
    assert "conversation_inbox_order" in plan, plan
    assert "TEMP B-TREE" not in plan, plan
