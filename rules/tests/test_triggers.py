"""Which rule answers: one trigger kind per rule, asked in a documented order."""

from datetime import UTC, datetime

import pytest

from accounts.models import InstagramBusinessAccount
from rules.matching import TRIGGER_ORDER, Incoming, Matcher, RuleSpec, choose_reply
from rules.models import ResponseRule

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def spec(id, trigger, *, keywords=(), priority=0, **fields):
    return RuleSpec(
        id=id,
        keywords=tuple(keywords),
        match_type="contains",
        priority=priority,
        created_at=T0,
        response_text=f"rule {id}",
        trigger=trigger,
        **fields,
    )


EVERY_TRIGGER = [
    spec(1, "payload", payload="MENU"),
    spec(2, "referral", referral_ref="summer"),
    spec(3, "story_mention"),
    spec(4, "story_reply"),
    spec(5, "welcome"),
    spec(6, "keywords", keywords=["price"]),
    spec(7, "attachment", attachment_types=frozenset({"image"})),
]


def chosen(incoming: Incoming, rules=EVERY_TRIGGER) -> tuple[int | None, str]:
    rule, trigger = Matcher(rules).choose(incoming, account_id=None)
    return (rule.id if rule else None, trigger)


def test_the_documented_order_of_triggers():
    assert TRIGGER_ORDER == (
        "payload",
        "referral",
        "story_mention",
        "story_reply",
        "welcome",
        "keywords",
        "attachment",
    )


def test_a_tap_wins_over_everything_else_the_message_carries():
    tap = Incoming(
        text="price", payload="MENU", referral_ref="summer", is_first_message=lambda: True
    )
    assert chosen(tap) == (1, "payload")


def test_a_referral_wins_over_a_welcome_and_keywords():
    first = Incoming(text="price?", referral_ref="summer", is_first_message=lambda: True)
    assert chosen(first) == (2, "referral")


def test_a_welcome_answers_a_new_customers_first_message_before_keywords():
    assert chosen(Incoming(text="price?", is_first_message=lambda: True)) == (5, "welcome")
    assert chosen(Incoming(text="price?", is_first_message=lambda: False)) == (6, "keywords")


def test_the_first_message_is_asked_only_when_a_welcome_rule_could_answer():
    asked = []
    incoming = Incoming(text="price", is_first_message=lambda: asked.append(1) or True)
    assert chosen(incoming, [spec(6, "keywords", keywords=["price"])]) == (6, "keywords")
    assert asked == []


def test_story_mentions_and_story_replies_have_their_own_rules():
    assert chosen(Incoming(story_mention=True, attachment_types=("story_mention",))) == (
        3,
        "story_mention",
    )
    assert chosen(Incoming(text="love it", story_reply=True)) == (4, "story_reply")


def test_a_message_without_text_is_matched_by_attachment_type():
    assert chosen(Incoming(attachment_types=("image",))) == (7, "attachment")
    assert chosen(Incoming(attachment_types=("video",))) == (None, "")
    any_type = [spec(8, "attachment")]
    assert chosen(Incoming(attachment_types=("audio",)), any_type) == (8, "attachment")
    # A photo with a caption has text: keywords decide, not the attachment.
    assert chosen(Incoming(text="hello", attachment_types=("image",)), any_type) == (None, "")


def test_a_referral_rule_matches_its_ref_or_its_ad_or_any_when_empty():
    by_ad = [spec(9, "referral", referral_ref="23850000000000000")]
    assert chosen(Incoming(referral_ref="", ad_id="23850000000000000"), by_ad) == (9, "referral")
    assert chosen(Incoming(referral_ref="other"), by_ad) == (None, "")
    assert chosen(Incoming(referral_ref="other"), [spec(10, "referral")]) == (10, "referral")
    assert chosen(Incoming(text="hi"), [spec(10, "referral")]) == (None, "")


def test_an_unknown_payload_falls_through_to_the_taps_title():
    incoming = Incoming(text="price list", payload="NOBODY_KNOWS")
    assert chosen(incoming) == (6, "keywords")


def test_within_a_trigger_the_highest_priority_answers():
    rules = [spec(11, "payload", payload="MENU"), spec(12, "payload", payload="MENU", priority=5)]
    assert chosen(Incoming(payload="MENU"), rules) == (12, "payload")


def test_rules_of_another_account_never_answer():
    rules = [spec(13, "welcome", account_id=99)]
    rule, _ = Matcher(rules).choose(Incoming(text="hi", is_first_message=lambda: True), 1)
    assert rule is None


@pytest.mark.django_db
def test_stored_rules_answer_with_their_whole_reply():
    shop = InstagramBusinessAccount.objects.create(instagram_id="1", name="Shop")
    rule = ResponseRule.objects.create(
        trigger="payload",
        payload="PRICES",
        response_text="Which size?",
        quick_replies=[{"title": "Small", "payload": "SMALL"}],
    )
    rule.extra_messages.create(kind="image", url="https://shop.example/prices.png")
    reply = choose_reply(shop, Incoming(text="Prices", payload="PRICES"))
    assert (reply.rule.id, reply.trigger) == (rule.pk, "payload")
    image, text = reply.messages
    assert image.to_graph()["attachment"]["type"] == "image"
    assert text.to_graph() == {
        "text": "Which size?",
        "quick_replies": [{"content_type": "text", "title": "Small", "payload": "SMALL"}],
    }
