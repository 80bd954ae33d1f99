"""A comment matching a comment rule is answered with a private reply (a DM) through the real
worker and the fake Graph API, once, within Meta's 7 days and hourly limit."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import InstagramBusinessAccount
from comments.models import Comment, CommentReply
from comments.tests.conftest import (
    COMMENT_ID,
    an_hour_passes,
    comment_payload,
    make_rule,
    private_calls,
    public_calls,
)
from messaging.models import Conversation, Message
from messaging.tests.conftest import load_payload

pytestmark = pytest.mark.django_db

ACCOUNT_ID = "17841400000000001"
AUTHOR = "1234567890123456"


def the_comment() -> Comment:
    return Comment.objects.get()


def test_matching_comment_gets_one_private_reply(deliver, fake_meta, run_worker):
    make_rule()
    assert deliver(comment_payload(text="PRICE please 😍")).status_code == 200
    assert the_comment().status == Comment.Status.PENDING
    run_worker()

    [call] = private_calls(fake_meta)
    # The environment's account (a Page token): its "me" is the Page.
    assert (call["node"], call["comment_id"], call["outcome"]) == ("me", COMMENT_ID, "sent")
    assert call["text"] == "Hi! The jacket is 89 €. Want the link?"
    comment = the_comment()
    assert comment.status == Comment.Status.ANSWERED_PRIVATELY
    reply = comment.replies.get()
    assert (reply.status, reply.attempts, reply.external_id) == ("sent", 1, call["message_id"])


def test_the_private_reply_opens_a_conversation_linked_to_the_comment(
    deliver, fake_meta, run_worker
):
    make_rule()
    deliver(comment_payload())
    run_worker()
    comment = the_comment()
    conversation = Conversation.objects.get()
    assert comment.conversation == conversation
    assert conversation.customer_id == comment.replies.get().recipient_id
    message = conversation.messages.get()
    assert (message.author, message.status, message.details) == (
        "bot",
        "sent",
        {"private_reply_to_comment": COMMENT_ID},
    )


def test_duplicate_comment_is_stored_once_and_answered_once(deliver, fake_meta, run_worker):
    make_rule()
    payload = comment_payload()
    deliver(payload)
    deliver(payload)
    run_worker()
    deliver(payload)
    run_worker()
    assert Comment.objects.count() == 1
    assert len(private_calls(fake_meta)) == 1


def test_the_business_own_comment_is_never_acted_on(deliver, fake_meta, run_worker):
    make_rule(keywords="price, dm")
    deliver(comment_payload(fixture="comments__by_the_account", author=ACCOUNT_ID))
    run_worker()
    comment = the_comment()
    assert (comment.status, comment.status_reason) == ("skipped", "written by the account itself")
    assert fake_meta.calls == []


def test_our_own_public_reply_delivered_back_is_never_acted_on(deliver, fake_meta, run_worker):
    # Whoever Meta names as its author (an IG-scoped id of the business, say), a comment that
    # is one of our public replies is ours: answering it would answer ourselves.
    make_rule(public_replies="Price sent in DM, price!")
    deliver(comment_payload())
    run_worker()
    (sent,) = public_calls(fake_meta)
    ours = comment_payload(comment_id=sent["id"], text=sent["text"], author="2105722729836161")
    ours["entry"][0]["changes"][0]["value"]["parent_id"] = COMMENT_ID  # the comment answered
    deliver(ours)
    run_worker()
    ours = Comment.objects.get(comment_id=sent["id"])
    assert (ours.status, ours.status_reason) == ("skipped", "written by the account itself")
    assert len(fake_meta.calls) == 2  # the first comment's private and public replies only


def test_a_comment_no_rule_matches_is_skipped_with_the_reason(deliver, fake_meta, run_worker):
    make_rule()
    deliver(comment_payload(text="Love it"))
    run_worker()
    assert (the_comment().status, the_comment().status_reason) == (
        "skipped",
        "no comment rule matches",
    )
    assert fake_meta.calls == []


def test_a_comment_older_than_seven_days_gets_no_private_reply(deliver, fake_meta, run_worker):
    make_rule()
    deliver(comment_payload(age=timedelta(days=7, minutes=1)))
    run_worker()
    comment = the_comment()
    assert comment.status == "skipped"
    assert "7 days" in comment.status_reason
    assert fake_meta.calls == []


def test_a_reply_whose_turn_comes_after_seven_days_fails_without_a_call(
    deliver, fake_meta, run_worker
):
    make_rule()
    deliver(comment_payload(age=timedelta(days=6, hours=23)))
    # Its turn comes late (a long backlog): past the 7 days, Meta would refuse it.
    CommentReply.objects.update(commented_at=timezone.now() - timedelta(days=7, minutes=1))
    run_worker()
    reply = CommentReply.objects.get()
    assert reply.status == "failed" and "7 days" in reply.last_error
    assert the_comment().status == "failed"
    assert fake_meta.calls == []


def test_meta_saying_too_old_fails_the_reply_with_the_reason(deliver, fake_meta, run_worker):
    make_rule()
    fake_meta.comments.add({"id": COMMENT_ID, "author_id": AUTHOR, "age_days": 8})
    deliver(comment_payload())
    run_worker()
    reply = CommentReply.objects.get()
    assert reply.status == "failed"
    assert "10903" in reply.last_error and "too late" in reply.last_error
    assert private_calls(fake_meta)[0]["outcome"] == "comment_too_old"


def test_meta_saying_already_replied_counts_as_answered_and_is_not_retried(
    deliver, fake_meta, run_worker
):
    make_rule()
    fake_meta.comments.privately_answered.add(COMMENT_ID)  # someone answered it already
    deliver(comment_payload())
    run_worker()
    run_worker()
    reply = CommentReply.objects.get()
    assert (reply.status, reply.attempts) == ("already", 1)
    assert the_comment().status == Comment.Status.ANSWERED_PRIVATELY
    assert len(private_calls(fake_meta)) == 1


def test_an_invalid_token_marks_the_account_and_fails_the_reply(deliver, fake_meta, run_worker):
    account = InstagramBusinessAccount(instagram_id=ACCOUNT_ID, name="Shop", page_id="1044")
    account.set_access_token("EAAG-old")
    account.save()
    make_rule()
    fake_meta.fail_next("invalid_token")
    deliver(comment_payload())
    run_worker()
    account.refresh_from_db()
    assert account.token_is_invalid
    assert "invalid access token" in CommentReply.objects.get().last_error


def test_meta_rate_limiting_makes_replies_wait_not_fail(deliver, fake_meta, run_worker):
    make_rule()
    fake_meta.fail_next("comment_rate_limit")
    deliver(comment_payload())
    run_worker()
    reply = CommentReply.objects.get()
    assert (reply.status, reply.attempts) == ("waiting", 0)
    assert reply.due_at > timezone.now()
    assert the_comment().status == Comment.Status.WAITING

    an_hour_passes()
    run_worker()
    assert CommentReply.objects.get().status == "sent"
    assert [call["outcome"] for call in private_calls(fake_meta)] == ["comment_rate_limit", "sent"]


def test_a_transient_failure_is_retried(deliver, fake_meta, run_worker):
    make_rule()
    fake_meta.fail_next("transient")
    deliver(comment_payload())
    run_worker()
    assert CommentReply.objects.get().status == "queued"
    an_hour_passes()
    run_worker()
    assert CommentReply.objects.get().status == "sent"


def test_facebook_login_accounts_send_private_replies_from_their_page(
    deliver, fake_meta, run_worker
):
    account = InstagramBusinessAccount(instagram_id=ACCOUNT_ID, name="Shop", page_id="1044")
    account.set_access_token("EAAG-page")
    account.save()
    make_rule(account=account)
    deliver(comment_payload())
    run_worker()
    assert private_calls(fake_meta)[0]["node"] == "1044"


def test_instagram_login_accounts_send_private_replies_from_their_own_node(
    deliver, fake_meta, run_worker
):
    account = InstagramBusinessAccount(
        instagram_id=ACCOUNT_ID, name="Shop", api=InstagramBusinessAccount.Api.INSTAGRAM_LOGIN
    )
    account.set_access_token("IGQVJ-token")
    account.save()
    make_rule(account=account)
    deliver(comment_payload())
    run_worker()
    assert private_calls(fake_meta)[0]["node"] == ACCOUNT_ID


def test_a_rule_of_another_account_does_not_answer(deliver, fake_meta, run_worker):
    other = InstagramBusinessAccount.objects.create(instagram_id="17841400000000002", name="B")
    make_rule(account=other)
    deliver(comment_payload())
    run_worker()
    assert the_comment().status == "skipped"


def test_the_commenters_answer_is_a_normal_conversation(deliver, fake_meta, run_worker):
    from rules.models import ResponseRule

    ResponseRule.objects.create(keywords="link", response_text="https://shop.example/jacket")
    make_rule()
    deliver(comment_payload())
    run_worker()
    conversation = Conversation.objects.get()

    dm = load_payload("messages__text")
    dm["entry"][0]["messaging"][0]["sender"]["id"] = conversation.customer_id
    dm["entry"][0]["messaging"][0]["message"]["text"] = "Yes, the link please"
    deliver(dm)
    run_worker()
    texts = list(conversation.messages.order_by("created_at", "id").values_list("text", flat=True))
    assert texts == [
        "Hi! The jacket is 89 €. Want the link?",
        "Yes, the link please",
        "https://shop.example/jacket",
    ]
    assert Message.objects.get(text="https://shop.example/jacket").status == "sent"
    assert list(conversation.comments.all()) == [the_comment()]


def test_no_private_reply_to_someone_staff_are_talking_with(deliver, fake_meta, run_worker):
    from messaging.replies import pause_bot

    make_rule(public_replies="Thanks!")
    conversation = Conversation.objects.create(instagram_account_id=ACCOUNT_ID, customer_id=AUTHOR)
    pause_bot(conversation)
    deliver(comment_payload())
    run_worker()
    comment = the_comment()
    assert comment.status == Comment.Status.ANSWERED_PUBLICLY
    assert "the bot is silent with this person" in comment.status_reason
    assert private_calls(fake_meta) == []


def test_the_post_commented_on_is_asked_about_once(deliver, fake_meta, run_worker):
    from unittest import mock

    from comments.models import Post
    from meta import graph

    make_rule()
    deliver(comment_payload(comment_id="1"))
    deliver(comment_payload(comment_id="2", author="222"))
    post = Post.objects.get()
    assert post.requested_at is None
    assert set(post.comments.values_list("comment_id", flat=True)) == {"1", "2"}
    real = graph.InstagramClient.get_media
    with mock.patch.object(
        graph.InstagramClient, "get_media", autospec=True, side_effect=real
    ) as get_media:
        run_worker()
        run_worker()
    assert get_media.call_count == 1
    post.refresh_from_db()
    assert post.permalink == "https://www.instagram.com/p/fake4550/"
    assert post.caption.startswith("New winter jackets")


@pytest.mark.django_db(transaction=True)  # the pass loop's thread has its own connection
def test_the_long_running_workers_pass_asks_about_the_post_commented_on(
    deliver, fake_meta, settings
):
    # Its pass is --once's pass: the fetches that can wait run when no work waits.
    from comments.models import Post
    from messaging.tests.test_end_to_end import wait_for
    from ops.worker import pass_loop_beside_tasks

    settings.WORKER_POLL_INTERVAL = 0.02
    make_rule()
    deliver(comment_payload(comment_id="1"), handle=False)  # the loop handles it
    with pass_loop_beside_tasks():
        assert wait_for(lambda: Post.objects.exclude(permalink="").exists())
    post = Post.objects.get()
    assert post.permalink == "https://www.instagram.com/p/fake4550/"
    assert Comment.objects.get().status == Comment.Status.ANSWERED_PRIVATELY
