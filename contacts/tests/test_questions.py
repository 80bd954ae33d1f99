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
