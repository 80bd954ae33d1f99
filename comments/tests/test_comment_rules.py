"""Comment rules: the reply rules' matcher (one matcher), scoped to a post, any post or the
next post published, with a private reply, public replies picked at random, or both."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.models import InstagramBusinessAccount
from comments.models import Comment, CommentReply, CommentRule
from comments.tests.conftest import (
    MEDIA_ID,
    comment_payload,
    make_rule,
    private_calls,
    public_calls,
)
from messaging import events
from messaging.models import Conversation, Message
from messaging.payloads import parse_delivery
from messaging.tests.conftest import encode, load_payload

pytestmark = pytest.mark.django_db

OTHER_MEDIA = "17895695668004549"
NEW_MEDIA = "17895695668009999"


def status_of(comment_id: str) -> str:
    return Comment.objects.get(comment_id=comment_id).status


@pytest.mark.parametrize(
    "match_type, text, matches",
    [
        ("contains", "PRÍCE?", False),  # accents are not folded away, as in reply rules
        ("contains", "Price?!", True),
        # Compatibility forms fold, as in reply rules.
        ("contains", "\uff30\uff32\uff29\uff23\uff25", True),
        ("word", "priceless", False),
        ("word", "price 😍", True),
        ("exact", "price please", False),
        ("starts_with", "price please", True),
    ],
)
def test_keywords_match_as_in_reply_rules(deliver, match_type, text, matches):
    make_rule(match_type=match_type)
    deliver(comment_payload(text=text))
    assert (Comment.objects.get().status == "pending") is matches


def test_the_highest_priority_rule_answers(deliver, fake_meta, run_worker):
    make_rule(keywords="price", private_reply_text="low", priority=1)
    make_rule(keywords="price", private_reply_text="high", priority=5)
    deliver(comment_payload())
    run_worker()
    assert private_calls(fake_meta)[0]["text"] == "high"


def test_a_rule_for_one_post_answers_only_there(deliver):
    make_rule(scope=CommentRule.Scope.POST, media_id=MEDIA_ID)
    deliver(comment_payload(comment_id="1", media=MEDIA_ID))
    deliver(comment_payload(comment_id="2", media=OTHER_MEDIA))
    assert (status_of("1"), status_of("2")) == ("pending", "skipped")


def test_a_rule_for_the_next_post_binds_to_the_first_new_post(deliver):
    account = InstagramBusinessAccount.objects.create(instagram_id="17841400000000001", name="Shop")
    deliver(comment_payload(comment_id="1", media=OTHER_MEDIA, age=timedelta(hours=2)))
    rule = make_rule(account=account, scope=CommentRule.Scope.NEXT_POST)
    rule.arm_for_next_post([MEDIA_ID, OTHER_MEDIA])
    rule.save()

    deliver(comment_payload(comment_id="2", media=MEDIA_ID))  # an older post: not it
    deliver(comment_payload(comment_id="3", media=OTHER_MEDIA))  # commented before: not it
    deliver(comment_payload(comment_id="4", media=NEW_MEDIA))  # the new post
    deliver(comment_payload(comment_id="5", media="17895695668010000"))  # a later one
    deliver(comment_payload(comment_id="6", media=NEW_MEDIA))
    assert [status_of(n) for n in "23456"] == [
        "skipped",
        "skipped",
        "pending",
        "skipped",
        "pending",
    ]
    rule.refresh_from_db()
    assert rule.media_id == NEW_MEDIA


def test_public_replies_are_picked_at_random_from_the_variants(deliver, fake_meta, run_worker):
    variants = ["Sent you a DM!", "Check your DMs 💌", "DM'd you the price"]
    make_rule(private_reply_text="", public_replies="\n".join(variants))
    for n in range(30):
        deliver(comment_payload(comment_id=f"1786579934820{n:04d}", author=f"88{n:014d}"))
    run_worker()
    texts = [call["text"] for call in public_calls(fake_meta)]
    assert len(texts) == 30 and set(texts) <= set(variants)
    assert len(set(texts)) > 1
    assert private_calls(fake_meta) == []
    assert set(Comment.objects.values_list("status", flat=True)) == {"public"}


def test_a_public_reply_to_a_reply_joins_its_thread(deliver, fake_meta, run_worker):
    make_rule(private_reply_text="", public_replies="Sent you a DM!")
    deliver(load_payload("comments__reply"))
    run_worker()
    assert public_calls(fake_meta)[0]["comment_id"] == "17865799348089039"  # the parent


@pytest.mark.parametrize(
    "fields, error_field",
    [
        ({"keywords": " , "}, "keywords"),
        ({"private_reply_text": "", "public_replies": ""}, "private_reply_text"),
        ({"private_reply_text": "é" * 501}, "private_reply_text"),
        ({"public_replies": "x" * 2201}, "public_replies"),
        ({"scope": "post", "media_id": ""}, "media_id"),
        ({"scope": "next"}, "account"),
    ],
)
def test_a_rule_says_what_is_wrong_with_it(fields, error_field):
    rule = CommentRule(
        **{"keywords": "price", "private_reply_text": "Hi", "scope": "any", **fields}
    )
    with pytest.raises(ValidationError) as error:
        rule.full_clean()
    assert error_field in error.value.message_dict


def test_the_echo_of_a_private_reply_in_flight_is_not_taken_for_staff(deliver, fake_meta):
    make_rule()
    deliver(comment_payload())
    CommentReply.objects.update(status="sending", claimed_at=timezone.now(), attempts=1)
    echo = load_payload("messages__echo")
    echo["entry"][0]["messaging"][0]["message"]["text"] = "Hi! The jacket is 89 €. Want the link?"
    [event] = parse_delivery(encode(echo)).events
    events.handle_in_transaction(event, None)
    assert Message.objects.count() == 0
    assert not any(c.bot_is_paused() for c in Conversation.objects.all())


def test_the_echo_of_a_sent_private_reply_matches_its_message(deliver, fake_meta, run_worker):
    make_rule()
    deliver(comment_payload())
    run_worker()
    sent = Message.objects.get()
    echo = load_payload("messages__echo")
    item = echo["entry"][0]["messaging"][0]
    item["recipient"]["id"] = sent.conversation.customer_id
    item["message"].update({"mid": sent.mid, "text": sent.text})
    deliver(echo)
    assert Message.objects.count() == 1
    assert not Conversation.objects.get().bot_is_paused()
