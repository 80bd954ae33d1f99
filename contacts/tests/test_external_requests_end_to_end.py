"""A flow's external request end to end: a DM through the webhook (live server), a real
`manage.py worker` process that answers on the fake Graph API and POSTs the contact and the
message to an endpoint on 127.0.0.1 (OUTGOING_URLS_ALLOW_LOOPBACK, tests only), then saves
the fields its JSON answer names, each checked for its type."""

import pytest
from django.core.management import call_command

from contacts.models import Contact, ContactField, ExternalRequest, RuleAction
from devtools.fake_endpoint import FakeEndpoint, json_body
from inbox.tests.conftest import make_account
from messaging.models import OutboxStatus
from messaging.tests.conftest import worker_process  # noqa: F401  (fixture)
from messaging.tests.test_end_to_end import fake_graph  # noqa: F401  (fixture)
from rules.models import ResponseRule

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ACCOUNT_ID = "17841400000000001"  # simulate_dm's and the fake Graph API's
CUSTOMER = "1234567890123456"


@pytest.fixture
def crm():
    answer = {"city": "Lyon", "email": "not an email", "plan": "gold"}
    endpoint = FakeEndpoint([(200, answer)]).start()
    yield endpoint
    endpoint.stop()


def test_the_answer_saves_fields(live_server, fake_graph, crm, worker_process):  # noqa: F811
    shop = make_account(ACCOUNT_ID, "Shop")
    ContactField.objects.create(account=shop, key="city", label="City")
    ContactField.objects.create(account=shop, key="email", label="Email", kind="email")
    rule = ResponseRule.objects.create(keywords="order", response_text="Looking it up!")
    RuleAction.objects.create(rule=rule, kind="request", url=crm.url("/instabot"))
    call_command(
        "simulate_dm",
        sender=CUSTOMER,
        text="where is my order?",
        url=f"{live_server.url}/webhooks/instagram",
    )

    worker_process(
        GRAPH_API_BASE_URL=fake_graph.base_url,
        OUTGOING_URLS_ALLOW_LOOPBACK="on",
        EXTERNAL_REQUEST_ALLOWED_HOSTS="127.0.0.1",
    )

    assert [call["text"] for call in fake_graph.calls if call.get("text")] == ["Looking it up!"]
    (posted,) = crm.calls
    assert posted["path"] == "/instabot"
    sent = json_body(posted)
    assert sent["message"]["text"] == "where is my order?"
    assert sent["contact"]["customer_id"] == CUSTOMER
    contact = Contact.objects.get(conversation__customer_id=CUSTOMER)
    assert dict(contact.values.values_list("field__key", "value")) == {"city": "Lyon"}
    request = ExternalRequest.objects.get()
    assert request.status == OutboxStatus.SENT
    assert request.outcome.startswith("saved city; refused email:")
