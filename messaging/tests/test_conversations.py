"""Conversations: which messages the bot answers, human takeover, archive, history."""

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from accounts.models import InstagramBusinessAccount
from messaging.models import Conversation, Message, WebhookDelivery
from messaging.replies import send_staff_reply
from messaging.tests.conftest import ACCOUNT_ID, answer_send, load_payload, sends, with_mid
from rules.models import ResponseRule

pytestmark = pytest.mark.django_db

DEFAULT_REPLY = "Thanks for your message! We'll get back to you soon."


def bot_replies():
    return list(Message.objects.filter(author=Message.Author.BOT).values_list("text", flat=True))


def customer_says(deliver, text, mid):
    return deliver(with_mid(load_payload("messages__text"), mid, text))


# --- fallback and rules ---


def test_five_lines_typed_at_once_get_one_fallback(deliver):
    for n in range(5):
        customer_says(deliver, f"line {n}", f"m{n}")
    assert bot_replies() == [DEFAULT_REPLY]


def test_the_fallback_comes_again_after_its_cooldown(deliver, settings):
    customer_says(deliver, "hello", "m1")
    Message.objects.filter(is_fallback=True).update(created_at=timezone.now() - timedelta(hours=25))
    customer_says(deliver, "anyone?", "m2")
    assert bot_replies() == [DEFAULT_REPLY, DEFAULT_REPLY]


def test_the_cooldown_is_a_setting(deliver, settings):
    settings.FALLBACK_COOLDOWN_HOURS = 1
    customer_says(deliver, "hello", "m1")
    Message.objects.filter(is_fallback=True).update(created_at=timezone.now() - timedelta(hours=2))
    customer_says(deliver, "anyone?", "m2")
    assert len(bot_replies()) == 2


def test_a_fallback_that_failed_does_not_count(deliver):
    customer_says(deliver, "hello", "m1")
    Message.objects.filter(is_fallback=True).update(status=Message.Status.FAILED)
    customer_says(deliver, "hello?", "m2")
    assert len(bot_replies()) == 2


def test_rule_replies_are_always_sent(deliver):
    rule = ResponseRule.objects.create(keywords="hours", response_text="10-19")
    customer_says(deliver, "hello", "m1")
    customer_says(deliver, "hours?", "m2")
    customer_says(deliver, "and hours on sunday?", "m3")
    customer_says(deliver, "thanks", "m4")
    assert bot_replies() == [DEFAULT_REPLY, "10-19", "10-19"]
    assert Message.objects.filter(rule=rule).count() == 2
    assert Message.objects.filter(is_fallback=True).count() == 1


def test_the_accounts_own_fallback_and_rules_answer_its_messages(deliver):
    shop = InstagramBusinessAccount.objects.create(
        instagram_id=ACCOUNT_ID, name="Shop", fallback_reply="Shop fallback"
    )
    ResponseRule.objects.create(keywords="hours", response_text="Shop hours", account=shop)
    other = InstagramBusinessAccount.objects.create(instagram_id="999", name="Other")
    ResponseRule.objects.create(keywords="price", response_text="Other's price", account=other)
    customer_says(deliver, "hours?", "m1")
    customer_says(deliver, "price?", "m2")
    assert bot_replies() == ["Shop hours", "Shop fallback"]


def test_an_inactive_accounts_messages_are_kept_raw_only_and_not_answered(deliver, caplog):
    InstagramBusinessAccount.objects.create(instagram_id=ACCOUNT_ID, name="Closed", is_active=False)
    assert customer_says(deliver, "hello", "m1").status_code == 200
    assert Message.objects.count() == 0
    delivery = WebhookDelivery.objects.get()
    assert "is inactive" in delivery.error
    assert "is inactive" in caplog.text


# --- messages without text ---


@pytest.mark.parametrize("fixture", ["messages__image", "messages__story_mention"])
def test_messages_without_text_get_the_fallback_by_default(deliver, fixture):
    deliver(load_payload(fixture))
    assert bot_replies() == [DEFAULT_REPLY]


def test_messages_without_text_can_get_no_reply(deliver, settings):
    settings.NO_TEXT_REPLY = "none"
    deliver(load_payload("messages__story_mention"))
    assert bot_replies() == []


def test_messages_without_text_can_get_their_own_reply_under_the_cooldown(deliver, settings):
    settings.NO_TEXT_REPLY = "Thanks for the mention! 💛"
    deliver(load_payload("messages__story_mention"))
    deliver(load_payload("messages__image"))
    assert bot_replies() == ["Thanks for the mention! 💛"]


def test_rules_match_text_not_attachments(deliver):
    ResponseRule.objects.create(keywords="image", response_text="rule")
    deliver(load_payload("messages__image"))
    assert bot_replies() == [DEFAULT_REPLY]


# --- human takeover ---


def test_staff_answering_from_the_instagram_app_pauses_the_bot(deliver, settings):
    deliver(load_payload("messages__echo"))  # staff wrote from the app
    conversation = Conversation.objects.get()
    assert conversation.bot_is_paused()
    expected = timezone.now() + timedelta(hours=settings.HUMAN_TAKEOVER_HOURS)
    assert abs((conversation.bot_paused_until - expected).total_seconds()) < 60

    customer_says(deliver, "thanks! and your hours?", "m1")
    assert bot_replies() == []


def test_our_own_echo_does_not_pause_the_bot(deliver):
    customer_says(deliver, "hello", "m1")
    Message.objects.get(author="bot").mark_sent("aWdfZAG1ours")
    deliver(with_mid(load_payload("messages__echo"), "aWdfZAG1ours", DEFAULT_REPLY))
    assert not Conversation.objects.get().bot_is_paused()


def test_a_queued_bot_reply_is_cancelled_when_staff_take_over_before_it_goes(
    deliver, graph_api, run_worker
):
    customer_says(deliver, "hello", "m1")  # the bot's reply is queued...
    deliver(load_payload("messages__echo"))  # ...and staff answer from the app first
    reply = Message.objects.get(author="bot")
    assert reply.status == Message.Status.CANCELLED  # at once, so the inbox shows it
    assert "staff took the conversation over" in reply.last_error
    run_worker()
    assert sends(graph_api) == []


def test_a_bot_reply_claimed_just_before_the_takeover_is_cancelled_at_send_time(deliver, graph_api):
    from messaging.sending import send_reply

    customer_says(deliver, "hello", "m1")
    reply = Message.objects.get(author="bot")
    # Paused by another process after this reply was queued, without cancelling it here.
    Conversation.objects.update(bot_paused_until=timezone.now() + timedelta(hours=1))
    send_reply(reply.pk)
    reply.refresh_from_db()
    assert reply.status == Message.Status.CANCELLED
    assert sends(graph_api) == []


def test_staff_reply_from_the_inbox_is_sent_like_the_bots_and_pauses_the_bot(
    deliver, graph_api, run_worker, admin_user
):
    customer_says(deliver, "hello", "m1")
    conversation = Conversation.objects.get()
    answer_send(graph_api, message_id="aWdfZAG1bot")
    run_worker()
    [staff_message] = send_staff_reply(conversation, "Hi, Alice here 👋", admin_user)
    assert (staff_message.author, staff_message.sent_by, staff_message.status) == (
        "staff",
        admin_user,
        "queued",
    )
    conversation.refresh_from_db()
    assert conversation.bot_is_paused()

    answer_send(graph_api, message_id="aWdfZAG1staff")
    run_worker()
    staff_message.refresh_from_db()
    assert (staff_message.status, staff_message.mid) == ("sent", "aWdfZAG1staff")
    # Its echo is ours: not stored again as a message from the Instagram app.
    deliver(with_mid(load_payload("messages__echo"), "aWdfZAG1staff", "Hi, Alice here 👋"))
    assert not Message.objects.filter(author=Message.Author.BUSINESS_APP).exists()

    customer_says(deliver, "great, thanks", "m2")
    assert bot_replies() == [DEFAULT_REPLY]  # the bot stays silent


def test_the_bot_answers_again_after_the_takeover_ends_or_is_resumed(deliver):
    deliver(load_payload("messages__echo"))
    conversation = Conversation.objects.get()
    conversation.resume_bot()
    customer_says(deliver, "hello?", "m1")
    assert len(bot_replies()) == 1

    # A pause that has run out.
    Conversation.objects.update(bot_paused_until=timezone.now() - timedelta(minutes=1))
    ResponseRule.objects.create(keywords="hours", response_text="10-19")
    customer_says(deliver, "hours?", "m2")
    assert bot_replies() == [DEFAULT_REPLY, "10-19"]


def test_a_takeover_is_never_shortened_by_a_later_shorter_one():
    conversation = Conversation.objects.create(instagram_account_id="1", customer_id="2")
    later = timezone.now() + timedelta(days=3)
    conversation.take_over(later)
    conversation.take_over(timezone.now() + timedelta(hours=1))
    assert conversation.bot_paused_until == later


def test_a_pause_by_staff_lasts_until_resumed_and_says_why_the_bot_is_silent(deliver):
    from messaging.replies import pause_bot, resume_bot

    deliver(load_payload("messages__text"))
    conversation = Conversation.objects.get()
    pause_bot(conversation)
    with mock.patch("django.utils.timezone.now", return_value=timezone.now() + timedelta(days=30)):
        assert conversation.bot_is_paused()
        assert "until resumed" in conversation.bot_silence_reason()
    resume_bot(conversation)
    conversation.refresh_from_db()
    assert not conversation.bot_is_paused()
    assert conversation.bot_silence_reason() == ""


# --- status and history ---


def test_a_new_customer_message_reactivates_an_archived_conversation(deliver):
    customer_says(deliver, "hello", "m1")
    conversation = Conversation.objects.get()
    conversation.set_status(Conversation.Status.ARCHIVED)
    customer_says(deliver, "me again", "m2")
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.ACTIVE


def test_recent_messages_are_the_last_n_newest_last(deliver, settings):
    settings.FALLBACK_COOLDOWN_HOURS = 0
    for n in range(4):
        customer_says(deliver, f"line {n}", f"m{n}")
    conversation = Conversation.objects.get()
    everything = [m.text for m in conversation.recent_messages(100)]
    assert everything == [f"line {n // 2}" if n % 2 == 0 else DEFAULT_REPLY for n in range(8)]
    assert [m.text for m in conversation.recent_messages(3)] == [
        DEFAULT_REPLY,
        "line 3",
        DEFAULT_REPLY,
    ]


def test_the_customers_username_is_fetched_for_a_new_conversation(deliver, graph_api, run_worker):
    answer_send(graph_api)
    customer_says(deliver, "hello", "m1")
    run_worker()
    assert Conversation.objects.get().customer_username == "jacket.fan"


def test_no_username_when_instagram_does_not_tell_it(deliver, run_worker, caplog):
    import responses

    with responses.RequestsMock(assert_all_requests_are_fired=False):  # nothing answers
        customer_says(deliver, "hello", "m1")
        run_worker()
    assert Conversation.objects.get().customer_username == ""
    assert "No profile for customer" in caplog.text


@pytest.mark.parametrize(
    ("answered", "stored"),
    [
        ('{"username": "fan\\ud800\\u0000", "name": "\\udfff"}', "fan\ufffd"),
        ('{"username": "' + "x" * 100 + '"}', "x" * 64),
        ('{"username": {"nested": true}}', ""),
    ],
)
def test_a_username_instagram_answers_oddly_is_cleaned_and_the_loop_goes_on(
    deliver, run_worker, answered, stored
):
    import re

    import responses
    from django.conf import settings

    with responses.RequestsMock(assert_all_requests_are_fired=False) as graph:
        graph.add(
            responses.GET,
            re.compile(rf"{re.escape(settings.GRAPH_API_BASE_URL)}/v[\d.]+/\d+\?fields="),
            body=answered,
            content_type="application/json",
        )
        answer_send(graph)
        customer_says(deliver, "hello", "m1")
        run_worker()
        customer_says(deliver, "and again", "m2")
        run_worker()
    assert Conversation.objects.get().customer_username == stored
    # The delivery loop went on: the second message was handled and answered too.
    assert Message.objects.filter(direction="in").count() == 2
    assert not WebhookDelivery.objects.exclude(state="processed").exists()
