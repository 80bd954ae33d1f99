"""A branch on a field's value compares as the contacts' filters do: in any case, the same on
every database."""

import pytest

from contacts.models import Contact, ContactField, FieldValue, RuleAction
from contacts.tests.conftest import dm
from messaging.models import Message
from rules.models import ResponseRule

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "city, answer", [("paris", "Bonjour!"), ("PARIS", "Bonjour!"), ("Lyon", "Hi!")]
)
def test_a_branch_on_a_fields_value_ignores_case(shop, deliver, city, answer):
    field = ContactField.objects.create(account=shop, key="city", label="City")
    parisian = ResponseRule.objects.create(
        account=shop, trigger="payload", payload="PARIS", response_text="Bonjour!"
    )
    others = ResponseRule.objects.create(
        account=shop, trigger="payload", payload="OTHERS", response_text="Hi!"
    )
    hello = ResponseRule.objects.create(account=shop, keywords="hello", response_text="Hello!")
    RuleAction.objects.create(
        rule=hello, kind="branch", field=field, value="Paris", then_rule=parisian, else_rule=others
    )
    deliver(dm("first message", "aWdfZAG1first"))
    FieldValue.objects.create(contact=Contact.objects.get(), field=field, value=city)
    deliver(dm("hello there", "aWdfZAG1hello"))
    texts = list(Message.objects.filter(author="bot").order_by("id").values_list("text", flat=True))
    assert texts[-1] == answer
    other = ({"Bonjour!", "Hi!"} - {answer}).pop()
    assert other not in texts
