"""A mention of the account is recorded; with a mention rule, the worker reads what it says
(after the delivery's transaction), and answers it once, in public, through the fake Graph API."""

import copy

import pytest
from django.core.exceptions import ValidationError
from django.db.models import F
from django.utils import timezone

from accounts.models import InstagramBusinessAccount
from comments.mentions import answer_due_mentions, sweep_stalled_mention_replies
from comments.models import Comment, CommentReply, CommentRule, Mention, MentionReply
from comments.tests.conftest import an_hour_passes as an_hour_passes_for_comments
from comments.tests.conftest import comment_payload, make_rule
from instabot.text_limits import KEYWORDS_PER_RULE
from messaging.tests.conftest import encode, load_payload
from messaging.tests.test_concurrent_deliveries import at_once, deliver_concurrently

pytestmark = pytest.mark.django_db

ACCOUNT_ID = "17841400000000001"
MEDIA_ID = "17887498072083520"
COMMENT_ID = "17894227972186120"


def mention_payload(*, comment_id=COMMENT_ID, media=MEDIA_ID, account=ACCOUNT_ID) -> dict:
    payload = copy.deepcopy(load_payload("mentions__comment", fresh=False))
    entry = payload["entry"][0]
    entry["id"] = account
    entry["time"] = int(timezone.now().timestamp())
    value = {"media_id": media}
    if comment_id:
        value["comment_id"] = comment_id
    entry["changes"][0]["value"] = value
    return payload


def mention_rule(**fields) -> CommentRule:
    values = {
        "scope": CommentRule.Scope.MENTION,
        "keywords": "",
        "private_reply_text": "",
        "public_replies": "Thanks for the mention! 💛",
    }
    return make_rule(**{**values, **fields})


def mentioned(fake, text="Love this jacket @fake.business", username="jacket.fan", **where):
    fake.comments.add_mention(
        {"media_id": MEDIA_ID, "comment_id": COMMENT_ID, "text": text, "username": username} | where
    )


def an_hour_passes() -> None:
    """Every claim, of replies to comments and to mentions, is over an hour old, and every
    waiting reply due."""
    an_hour_passes_for_comments()
    an_hour = timezone.timedelta(hours=1, seconds=1)
    MentionReply.objects.exclude(claimed_at=None).update(claimed_at=F("claimed_at") - an_hour)
    MentionReply.objects.filter(status=MentionReply.Status.QUEUED).update(
        due_at=timezone.now() - an_hour
    )


def calls(fake, kind) -> list[dict]:
    return [call for call in fake.calls if call.get("kind") == kind]


def test_a_mention_is_answered_once_in_public_under_the_mentioning_comment(
    deliver, fake_meta, run_worker
):
    mention_rule()
    mentioned(fake_meta)
    assert deliver(mention_payload()).status_code == 200
    # Recorded, its answer queued; nothing asked of Instagram in the delivery's transaction.
    assert MentionReply.objects.get().status == MentionReply.Status.QUEUED
    assert fake_meta.calls == []
    run_worker()

    [read] = calls(fake_meta, "mention_read")
    assert read["fields"].startswith(f"mentioned_comment.comment_id({COMMENT_ID})")
    [call] = calls(fake_meta, "mention_reply")
    assert (call["node"], call["media_id"], call["comment_id"], call["text"]) == (
        ACCOUNT_ID,
        MEDIA_ID,
        COMMENT_ID,
        "Thanks for the mention! 💛",
    )
    mention = Mention.objects.get()
    assert (mention.text, mention.author_username) == (
        "Love this jacket @fake.business",
        "jacket.fan",
    )
    reply = mention.reply
    assert (reply.status, reply.external_id, reply.attempts) == ("sent", call["id"], 1)
    assert reply.rule == CommentRule.objects.get()
    # Meta has no private reply to a mention: none is sent.
    assert calls(fake_meta, "private_reply") == []


def test_a_redelivered_mention_is_answered_once(deliver, fake_meta, run_worker):
    mention_rule()
    mentioned(fake_meta)
    deliver(mention_payload())
    deliver(mention_payload())
    run_worker()
    deliver(mention_payload())
    run_worker()
    assert Mention.objects.count() == 1
    assert MentionReply.objects.count() == 1
    assert len(calls(fake_meta, "mention_reply")) == 1


@pytest.mark.django_db(transaction=True)
def test_a_mention_delivered_concurrently_and_answered_by_workers_at_once_is_answered_once(
    fake_meta,
):
    mention_rule()
    mentioned(fake_meta)
    assert deliver_concurrently([encode(mention_payload())] * 6) == [200] * 6
    assert MentionReply.objects.count() == 1
    at_once(lambda _: answer_due_mentions(), range(4))
    assert len(calls(fake_meta, "mention_reply")) == 1
    assert MentionReply.objects.get().status == MentionReply.Status.SENT


def test_the_accounts_own_mention_is_not_answered(deliver, fake_meta, run_worker):
    account = InstagramBusinessAccount(
        instagram_id=ACCOUNT_ID, name="Shop", username="Fake.Business", page_id="9"
    )
    account.set_access_token("EAAG-page")
    account.save()
    mention_rule()
    mentioned(fake_meta, text="New in: ask @fake.business", username="fake.business")
    deliver(mention_payload())
    run_worker()
    reply = MentionReply.objects.get()
    assert (reply.status, reply.last_error) == ("skipped", "written by the account itself")
    assert calls(fake_meta, "mention_reply") == []


def test_a_mention_that_is_one_of_our_own_replies_is_not_answered(deliver, fake_meta, run_worker):
    mention_rule()
    # The service answered a mention with comment 17900000000000077, which mentions the account.
    earlier = Mention.objects.create(
        instagram_account_id=ACCOUNT_ID, media_id=MEDIA_ID, mentioned_at=timezone.now()
    )
    MentionReply.objects.create(
        mention=earlier,
        instagram_account_id=ACCOUNT_ID,
        status="sent",
        external_id="17900000000000077",
    )
    mentioned(fake_meta, comment_id="17900000000000077", text="Thanks @fake.business!")
    deliver(mention_payload(comment_id="17900000000000077"))
    run_worker()
    reply = MentionReply.objects.get(mention__comment_id="17900000000000077")
    assert (reply.status, reply.last_error) == ("skipped", "one of the account's own replies")
    assert calls(fake_meta, "mention_reply") == []


def test_without_a_mention_rule_a_mention_is_recorded_only(deliver, fake_meta, run_worker):
    make_rule()  # a rule for comments on posts: not for mentions
    mentioned(fake_meta)
    deliver(mention_payload())
    run_worker()
    assert Mention.objects.count() == 1
    assert MentionReply.objects.count() == 0
    assert fake_meta.calls == []  # not even read


def test_a_mention_rule_with_keywords_answers_only_mentions_that_match(
    deliver, fake_meta, run_worker
):
    mention_rule(keywords="price, prix", public_replies="Sent you the price below!")
    mentioned(fake_meta, text="@fake.business looks great")
    mentioned(fake_meta, comment_id="17894227972186121", text="@fake.business PRIX ?")
    deliver(mention_payload())
    deliver(mention_payload(comment_id="17894227972186121"))
    run_worker()
    [call] = calls(fake_meta, "mention_reply")
    assert call["comment_id"] == "17894227972186121"
    skipped = MentionReply.objects.get(mention__comment_id=COMMENT_ID)
    assert (skipped.status, skipped.last_error) == ("skipped", "no mention rule matches")


def test_the_highest_priority_mention_rule_answers(deliver, fake_meta, run_worker):
    mention_rule(public_replies="Thanks!", priority=1)
    mention_rule(keywords="price", public_replies="Price in bio!", priority=5)
    mentioned(fake_meta, text="price @fake.business?")
    deliver(mention_payload())
    run_worker()
    assert [call["text"] for call in calls(fake_meta, "mention_reply")] == ["Price in bio!"]


def test_a_caption_mention_is_answered_on_the_media(deliver, fake_meta, run_worker):
    mention_rule()
    mentioned(fake_meta, comment_id="", text="Wearing @fake.business today")
    deliver(mention_payload(comment_id=""))
    run_worker()
    [read] = calls(fake_meta, "mention_read")
    assert read["fields"].startswith(f"mentioned_media.media_id({MEDIA_ID})")
    [call] = calls(fake_meta, "mention_reply")
    assert (call["media_id"], call["comment_id"]) == (MEDIA_ID, "")
    assert Mention.objects.get().text == "Wearing @fake.business today"


def test_mention_rules_do_not_answer_comments(deliver, fake_meta, run_worker):
    mention_rule()
    deliver(comment_payload(text="hello"))
    run_worker()
    assert Comment.objects.get().status_reason == "no comment rule matches"
    assert CommentReply.objects.count() == 0


def test_a_mention_meta_does_not_know_fails_with_metas_reason(deliver, fake_meta, run_worker):
    mention_rule()
    deliver(mention_payload())  # the fake was not told of it: Meta's (#100)
    run_worker()
    reply = MentionReply.objects.get()
    assert reply.status == MentionReply.Status.FAILED
    assert "(#100) Invalid parameter" in reply.last_error


def test_a_transient_failure_is_retried_later(deliver, fake_meta, run_worker):
    mention_rule()
    mentioned(fake_meta)
    deliver(mention_payload())
    fake_meta.fail_next("transient")
    run_worker()
    reply = MentionReply.objects.get()
    assert (reply.status, reply.attempts) == ("queued", 1)
    assert reply.due_at > timezone.now()
    MentionReply.objects.update(due_at=timezone.now())
    run_worker()
    assert MentionReply.objects.get().status == MentionReply.Status.SENT


def test_an_invalid_token_fails_the_reply_and_marks_the_account(deliver, fake_meta, run_worker):
    account = InstagramBusinessAccount(instagram_id=ACCOUNT_ID, name="Shop", page_id="9")
    account.set_access_token("EAAG-expired")
    account.save()
    mention_rule()
    mentioned(fake_meta)
    deliver(mention_payload())
    fake_meta.fail_next("invalid_token")
    run_worker()
    reply = MentionReply.objects.get()
    assert reply.status == MentionReply.Status.FAILED
    assert reply.last_error.startswith("invalid access token")
    account.refresh_from_db()
    assert account.token_is_invalid


def test_a_reply_whose_worker_died_mid_answer_is_given_up(deliver, fake_meta):
    mention_rule()
    deliver(mention_payload())
    long_ago = timezone.now() - timezone.timedelta(hours=1)
    MentionReply.objects.update(status=MentionReply.Status.SENDING, claimed_at=long_ago)
    assert sweep_stalled_mention_replies() == 1
    assert MentionReply.objects.get().status == MentionReply.Status.FAILED


@pytest.mark.parametrize(
    "fields, error_field",
    [
        ({"public_replies": ""}, "public_replies"),
        ({"private_reply_text": "Hi in DM"}, "private_reply_text"),
    ],
)
def test_a_mention_rule_is_answered_with_public_replies_only(fields, error_field):
    rule = CommentRule(scope=CommentRule.Scope.MENTION, keywords="", public_replies="Thanks!", **{})
    for name, value in fields.items():
        setattr(rule, name, value)
    with pytest.raises(ValidationError) as raised:
        rule.full_clean()
    assert error_field in raised.value.message_dict


def test_a_mention_rule_needs_no_keywords_but_a_comment_rule_does():
    CommentRule(scope=CommentRule.Scope.MENTION, public_replies="Thanks!").full_clean()
    with pytest.raises(ValidationError) as raised:
        CommentRule(scope=CommentRule.Scope.ANY_POST, public_replies="Thanks!").full_clean()
    assert "keywords" in raised.value.message_dict


def test_mention_replies_share_the_accounts_hourly_limit_of_public_replies(
    deliver, fake_meta, run_worker, settings
):
    settings.COMMENT_PUBLIC_REPLIES_PER_HOUR = 2
    make_rule(private_reply_text="", public_replies="See the link in bio")
    mention_rule()
    deliver(comment_payload(text="price?"))  # a public reply to a comment: one of the two
    for n in range(3):
        comment_id = f"1789422797218610{n}"
        mentioned(fake_meta, comment_id=comment_id)
        deliver(mention_payload(comment_id=comment_id))
    run_worker()
    assert len(calls(fake_meta, "public_reply")) == 1
    assert len(calls(fake_meta, "mention_reply")) == 1
    waiting = MentionReply.objects.filter(status=MentionReply.Status.QUEUED)
    assert waiting.count() == 2
    # They wait for the hour to free a slot, oldest first, and none is dropped.
    assert all(reply.due_at > timezone.now() for reply in waiting)
    an_hour_passes()
    run_worker()
    assert len(calls(fake_meta, "mention_reply")) == 3
    assert MentionReply.objects.filter(status=MentionReply.Status.SENT).count() == 3


def test_a_mention_reply_counts_against_the_public_replies_to_comments(
    deliver, fake_meta, run_worker, settings
):
    settings.COMMENT_PUBLIC_REPLIES_PER_HOUR = 1
    make_rule(private_reply_text="", public_replies="See the link in bio")
    mention_rule()
    mentioned(fake_meta)
    deliver(mention_payload())
    run_worker()
    deliver(comment_payload(text="price?"))
    run_worker()
    assert len(calls(fake_meta, "mention_reply")) == 1
    assert calls(fake_meta, "public_reply") == []
    assert Comment.objects.get().status == Comment.Status.WAITING


def test_a_mention_rules_keywords_when_given_are_held_to_the_reply_rules_limits():
    too_many = ", ".join(f"word{n}" for n in range(KEYWORDS_PER_RULE + 1))
    rule = CommentRule(scope=CommentRule.Scope.MENTION, keywords=too_many, public_replies="Hi")
    with pytest.raises(ValidationError) as raised:
        rule.full_clean()
    assert "keywords" in raised.value.message_dict


def test_a_mention_whose_text_and_username_hold_lone_surrogates_and_nuls_is_answered(
    deliver, fake_meta, run_worker
):
    # The Graph API's answer, as Meta escapes it: cleaned as webhook deliveries are.
    mention_rule()
    mentioned(fake_meta, text="Love it\ud800 @fake.business\x00", username="fan\udfff\x00")
    assert deliver(mention_payload()).status_code == 200
    run_worker()

    mention = Mention.objects.get()
    assert (mention.text, mention.author_username) == (
        "Love it\ufffd @fake.business",
        "fan\ufffd",
    )
    assert mention.reply.status == "sent"
