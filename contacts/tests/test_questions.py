"""A question waits for the customer's answer within Instagram's 24-hour window, no longer."""

import pytest

from contacts.models import Contact, ContactField, RuleAction
from contacts.tests.conftest import dm
from messaging.models import Message
from rules.models import ResponseRule

pytestmark = pytest.mark.django_db

HOUR_MS = 3_600_000


@pytest.fixture
def question(shop):
    city = ContactField.objects.create(account=shop, key="city", label="City")
    thanks = ResponseRule.objects.create(
        account=shop, trigger="payload", payload="THANKS", response_text="Thanks!"
    )
    ask = ResponseRule.objects.create(account=shop, keywords="deliver", response_text="Where?")
    RuleAction.objects.create(
        rule=ask, kind="ask", field=city, retry_text="Where?", then_rule=thanks
    )
    return city


def bot_texts() -> list[str]:
    return list(Message.objects.filter(author="bot").order_by("id").values_list("text", flat=True))


def test_an_answer_within_a_day_is_saved(shop, question, deliver):
    asked = dm("do you deliver?", "aWdfZAG1ask")
    deliver(asked)
    answer = dm("Lyon", "aWdfZAG1answer")
    answer["entry"][0]["messaging"][0]["timestamp"] = (
        asked["entry"][0]["messaging"][0]["timestamp"] + 23 * HOUR_MS
    )
    deliver(answer)
    assert bot_texts() == ["Where?", "Thanks!"]
    assert Contact.objects.get().values.get().value == "Lyon"


def test_a_question_lapses_after_a_day(shop, question, deliver):
    asked = dm("do you deliver?", "aWdfZAG1ask")
    asked["entry"][0]["messaging"][0]["timestamp"] -= 25 * HOUR_MS
    deliver(asked)  # too old to be answered by the bot: it asks nothing
    contact = Contact.objects.get()
    contact.asking = RuleAction.objects.get()
    contact.asked_at = Message.objects.get().timestamp
    contact.save()
    deliver(dm("Lyon", "aWdfZAG1late"))
    contact.refresh_from_db()
    assert contact.asking is None and not contact.values.exists()


RETRY = "Sorry, I didn't get that. Once more?"


@pytest.mark.parametrize(
    "kind, wrong, right, saved",
    [
        ("text", "x" * 1_001, "  Lyon  ", "Lyon"),
        ("number", "\u0663\u0663", "33", "33"),  # Arabic-Indic digits are not a number here
        ("number", "\uff13\uff13", "-4.50", "-4.5"),  # nor full-width ones
        ("email", "ana\ud800@example.com", "Ana@Example.COM", "Ana@example.com"),
        ("email", "bob at example", "bob@example.com", "bob@example.com"),
        ("phone", "call me maybe", "+44 20 7946 0958", "+442079460958"),
        ("date", "next friday", "2026-12-24", "2026-12-24"),
        ("date", "2026-02-30", "2026-02-28", "2026-02-28"),
        ("choice", "XL", "m", "M"),
    ],
)
def test_each_kind_of_field_checks_the_answer_retries_then_saves(
    shop, deliver, kind, wrong, right, saved
):
    field = ContactField.objects.create(
        account=shop, key="answer", label="Answer", kind=kind, choices="S\nM\nL"
    )
    thanks = ResponseRule.objects.create(
        account=shop, trigger="payload", payload="THANKS", response_text="Thanks!"
    )
    ask = ResponseRule.objects.create(account=shop, keywords="question", response_text="Well?")
    RuleAction.objects.create(rule=ask, kind="ask", field=field, retry_text=RETRY, then_rule=thanks)

    deliver(dm("a question for you", "aWdfZAG1ask"))
    deliver(dm(wrong, "aWdfZAG1wrong"))
    assert bot_texts() == ["Well?", RETRY]
    assert not Contact.objects.get().values.exists()
    deliver(dm(right, "aWdfZAG1right"))
    assert bot_texts() == ["Well?", RETRY, "Thanks!"]
    contact = Contact.objects.get()
    assert contact.values.get().value == saved
    assert contact.asking is None and contact.ask_retries == 0


def test_a_huge_answer_gets_the_retry_text_at_most_twice_then_the_flow_goes_on(shop, deliver):
    field = ContactField.objects.create(account=shop, key="age", label="Age", kind="number")
    ask = ResponseRule.objects.create(account=shop, keywords="question", response_text="Age?")
    RuleAction.objects.create(rule=ask, kind="ask", field=field, retry_text=RETRY)

    deliver(dm("a question for you", "aWdfZAG1ask"))
    deliver(dm("9" * 5_000, "aWdfZAG1huge"))
    deliver(dm("\u0663\u0663", "aWdfZAG1digits"))
    # A third answer that does not fit: the question is dropped, the message answered as any
    # other (here by the fallback, not the retry text).
    deliver(dm("none of your business", "aWdfZAG1third"))
    texts = bot_texts()
    assert texts[:3] == ["Age?", RETRY, RETRY]
    assert RETRY not in texts[3:]
    contact = Contact.objects.get()
    assert not contact.values.exists() and contact.asking is None


def test_a_nul_in_an_answer_is_removed_at_the_door(shop, deliver):
    field = ContactField.objects.create(account=shop, key="age", label="Age", kind="number")
    ask = ResponseRule.objects.create(account=shop, keywords="question", response_text="Age?")
    RuleAction.objects.create(rule=ask, kind="ask", field=field, retry_text=RETRY)
    deliver(dm("a question for you", "aWdfZAG1ask"))
    deliver(dm("3\x003", "aWdfZAG1nul"))  # meta.cleaning removes a NUL from display text
    assert bot_texts()[0] == "Age?" and RETRY not in bot_texts()
    assert Contact.objects.get().values.get().value == "33"
