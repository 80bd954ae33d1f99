"""rules.matching.Matcher: plain data in, the answering rule out. No database."""

import unicodedata
from datetime import UTC, datetime, timedelta

import pytest

from rules.matching import Matcher, RuleSpec, normalize

T0 = datetime(2026, 1, 1, tzinfo=UTC)
_ids = iter(range(1, 10**6))


def rule(keywords, match_type="contains", priority=0, age=0, account_id=None, reply=None):
    rule_id = next(_ids)
    return RuleSpec(
        id=rule_id,
        keywords=tuple(keywords.split(",")),
        match_type=match_type,
        priority=priority,
        created_at=T0 + timedelta(days=age),
        response_text=reply or f"reply {rule_id}",
        account_id=account_id,
    )


def answers(rules, text, account_id=None):
    found = Matcher(rules).match(text, account_id)
    return found.response_text if found else None


@pytest.mark.parametrize(
    "match_type, text, expected",
    [
        ("contains", "Do you have the JACKET?", True),
        ("contains", "jackets please", True),
        ("contains", "a coat", False),
        ("word", "Do you have the Jacket?", True),
        ("word", "jackets please", False),
        ("word", "myjacket", False),
        ("word", "jacket", True),
        ("exact", "jacket", True),
        ("exact", "  Jacket  ", True),
        ("exact", "jacket?", False),
        ("exact", "the jacket", False),
        ("starts_with", "Jacket in size M?", True),
        ("starts_with", "jackets?", True),
        ("starts_with", "the jacket", False),
    ],
)
def test_match_types(match_type, text, expected):
    assert (answers([rule("jacket", match_type, reply="yes")], text) == "yes") is expected


def test_several_keywords_any_of_them_matches_and_spaces_around_commas_do_not_count():
    rules = [rule("opening hours , open,  hours", "word", reply="10-19")]
    assert answers(rules, "When are you OPEN?") == "10-19"
    assert answers(rules, "your opening hours please") == "10-19"
    assert answers(rules, "reopen") is None


def test_multi_word_keyword_as_whole_words():
    rules = [rule("how much", "word", reply="price")]
    assert answers(rules, "How  much?") is None  # the keyword's single space is part of it
    assert answers(rules, "ok, how much is it") == "price"
    assert answers(rules, "somehow much") is None


def test_higher_priority_wins():
    rules = [rule("price", priority=1, reply="low"), rule("price", priority=9, reply="high")]
    assert answers(rules, "what price?") == "high"


def test_priority_wins_across_different_keywords_and_kinds():
    rules = [rule("shoes", priority=1, reply="shoes"), rule("red", "word", priority=5, reply="red")]
    assert answers(rules, "red shoes") == "red"


def test_ties_go_to_the_oldest_rule_whatever_the_order_given():
    old, new = rule("sale", age=0, reply="old"), rule("sale", age=5, reply="new")
    assert answers([new, old], "sale?") == "old"
    assert answers([old, new], "sale?") == "old"


def test_equal_priority_and_age_break_on_id():
    first = rule("sale", reply="first")
    second = RuleSpec(**{**first.__dict__, "id": first.id + 1000, "response_text": "second"})
    assert answers([second, first], "sale") == "first"


def test_a_lower_rule_matches_when_the_higher_one_does_not_accept_its_occurrence():
    rules = [rule("hat", "word", priority=9, reply="hat"), rule("chat", priority=1, reply="chat")]
    assert answers(rules, "can we chat") == "chat"


def test_no_match_gives_none():
    assert answers([rule("jacket")], "hello") is None
    assert answers([], "hello") is None
    assert answers([rule("jacket")], "") is None


@pytest.mark.parametrize(
    "keyword, text",
    [
        ("CAFÉ", "un café svp"),  # case, with an accent
        ("straße", "STRASSE 5"),  # casefold: ß is ss
        ("café", unicodedata.normalize("NFD", "café")),  # decomposed accent in the message
        (unicodedata.normalize("NFD", "crème"), "crème brûlée"),  # decomposed in the keyword
        ("\uff53\uff41\uff4c\uff45", "sale"),  # full-width letters
        ("日本", "日本に発送しますか"),
        ("привет", "Привет!"),
    ],
)
def test_unicode_case_and_accents(keyword, text):
    assert answers([rule(keyword, reply="ok")], text) == "ok"


def test_accents_are_not_ignored():
    # "pêche" (fishing) is not "péché" (sin): accents distinguish words.
    assert answers([rule("péché", reply="x")], "pêche") is None


def test_the_keyword_help_text_says_what_matching_does():
    from rules.models import ResponseRule

    help_text = ResponseRule._meta.get_field("keywords").help_text
    assert "Capitals do not matter, accents do: “café” does not match “cafe”" in help_text
    assert answers([rule("café", reply="x")], "CAFÉ") == "x"
    assert answers([rule("café", reply="x")], "cafe") is None
    assert answers([rule("cafe", reply="x")], "café") is None


@pytest.mark.parametrize(
    "keyword, text, match_type",
    [
        ("❤️", "I ❤ this", "contains"),  # with and without the emoji presentation selector
        ("❤", "I ❤️ this", "contains"),
        ("👍", "great👍🏽", "word"),  # skin tone, glued to a word
        ("🛍️", "🛍️", "exact"),
    ],
)
def test_emoji_keywords(keyword, text, match_type):
    assert answers([rule(keyword, match_type, reply="ok")], text) == "ok"


def test_account_rules_answer_only_their_account_and_global_rules_every_account():
    rules = [
        rule("hours", priority=1, account_id=1, reply="shop one"),
        rule("hours", priority=0, reply="everyone"),
    ]
    assert answers(rules, "hours?", account_id=1) == "shop one"
    assert answers(rules, "hours?", account_id=2) == "everyone"
    assert answers(rules, "hours?", account_id=None) == "everyone"


def test_a_global_rule_of_higher_priority_beats_an_account_rule():
    rules = [
        rule("hours", priority=1, account_id=1, reply="mine"),
        rule("hours", priority=5, reply="all"),
    ]
    assert answers(rules, "hours?", account_id=1) == "all"


def test_the_right_rule_among_ten_thousand():
    rules = [rule(f"keyword{n:05d}", "word", priority=n % 7) for n in range(10_000)]
    target = rule("keyword04242x", "word", priority=50, reply="the one")
    assert answers([*rules, target], "is keyword04242x here?") == "the one"
    assert answers([*rules, target], "keyword04242") == rules[4242].response_text


def test_overlapping_keywords_are_all_found():
    rules = [
        rule("he", "exact", reply="he"),
        rule("she", "word", priority=1, reply="she"),
        rule("hers", "word", priority=2, reply="hers"),
    ]
    assert answers(rules, "ushers") is None
    assert answers(rules, "his and hers") == "hers"
    assert answers(rules, "she") == "she"
    assert answers(rules, "he") == "he"


def test_normalize_folds_case_width_and_emoji_presentation():
    assert normalize("  \uff23\uff21\uff26É ❤️ ") == "café ❤"  # full-width CAF
