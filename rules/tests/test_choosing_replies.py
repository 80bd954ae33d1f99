"""choose_reply: stored rules, fallbacks, and a matcher that follows rule changes."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db.models import F

from accounts.models import InstagramBusinessAccount
from rules import matching
from rules.matching import choose_reply
from rules.models import ResponseRule

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop():
    return InstagramBusinessAccount.objects.create(
        instagram_id="17841400000000001", name="Shop", fallback_reply="The shop will answer soon."
    )


def test_a_matching_rule_answers(shop):
    rule = ResponseRule.objects.create(keywords="hours", response_text="10-19")
    reply = choose_reply(shop, "Your hours?")
    assert (reply.text, reply.rule.id, reply.is_fallback) == ("10-19", rule.pk, False)


def test_no_match_answers_with_the_accounts_fallback(shop):
    reply = choose_reply(shop, "hello")
    assert (reply.text, reply.is_fallback) == ("The shop will answer soon.", True)


def test_no_match_without_an_account_fallback_answers_default_reply_text(settings):
    settings.DEFAULT_REPLY_TEXT = "Default!"
    assert choose_reply(None, "hello").text == "Default!"
    account = InstagramBusinessAccount.objects.create(instagram_id="2", name="No fallback")
    assert choose_reply(account, "hello").text == "Default!"


def test_inactive_rules_do_not_answer(shop):
    ResponseRule.objects.create(keywords="hours", response_text="10-19", is_active=False)
    assert choose_reply(shop, "hours").is_fallback


def test_rules_of_another_account_do_not_answer(shop):
    other = InstagramBusinessAccount.objects.create(instagram_id="2", name="Other")
    ResponseRule.objects.create(keywords="hours", response_text="other's hours", account=other)
    assert choose_reply(shop, "hours").is_fallback
    assert choose_reply(other, "hours").text == "other's hours"


def test_edits_apply_at_once_in_the_process_that_saves_them(shop):
    rule = ResponseRule.objects.create(keywords="hours", response_text="10-19")
    assert choose_reply(shop, "hours").text == "10-19"
    rule.response_text = "9-18"
    rule.save()
    assert choose_reply(shop, "hours").text == "9-18"
    rule.is_active = False
    rule.save()
    assert choose_reply(shop, "hours").is_fallback
    rule.is_active = True
    rule.save()
    rule.delete()
    assert choose_reply(shop, "hours").is_fallback


def test_edits_from_another_process_apply_within_a_second(shop, monkeypatch):
    ResponseRule.objects.create(keywords="hours", response_text="10-19")
    assert choose_reply(shop, "hours").text == "10-19"
    # Another process (the web server, for the worker) changes the rule: no signal here.
    ResponseRule.objects.update(
        response_text="9-18", updated_at=F("updated_at") + timedelta(seconds=1)
    )
    assert choose_reply(shop, "hours").text == "10-19"  # still trusted...
    clock = matching.time.monotonic() + matching.RULES_FRESH_FOR + 0.1
    monkeypatch.setattr(matching.time, "monotonic", lambda: clock)
    assert choose_reply(shop, "hours").text == "9-18"  # ...until it asks the database


def test_deletions_from_another_process_are_noticed(shop, monkeypatch):
    ResponseRule.objects.create(keywords="hours", response_text="10-19")
    assert not choose_reply(shop, "hours").is_fallback
    ResponseRule.objects.all()._raw_delete(ResponseRule.objects.db)  # no signals
    clock = matching.time.monotonic() + matching.RULES_FRESH_FOR + 0.1
    monkeypatch.setattr(matching.time, "monotonic", lambda: clock)
    assert choose_reply(shop, "hours").is_fallback


def test_the_matcher_is_not_rebuilt_while_rules_are_unchanged(shop, monkeypatch):
    ResponseRule.objects.create(keywords="hours", response_text="10-19")
    first = matching.current_matcher()
    clock = matching.time.monotonic() + matching.RULES_FRESH_FOR + 0.1
    monkeypatch.setattr(matching.time, "monotonic", lambda: clock)
    assert matching.current_matcher() is first


def test_a_rule_needs_a_keyword_and_a_reply():
    with pytest.raises(ValidationError) as raised:
        ResponseRule(keywords=" , ,", response_text="x").full_clean()
    assert "keywords" in raised.value.message_dict
    with pytest.raises(ValidationError) as raised:
        ResponseRule(keywords="a", response_text="   ").full_clean()
    assert "response_text" in raised.value.message_dict
