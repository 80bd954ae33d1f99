"""The flow action "external request": the contact and the message POSTed as JSON after the
event (the reply never waits for it), fields saved from its answer, checked; URLs only on
the allow-list, https, never at a private address."""

import json

import pytest
import responses

from contacts.models import Contact, ContactField, ExternalRequest, RuleAction
from contacts.tests.conftest import dm
from instabot import safe_urls
from messaging import outbox
from messaging.models import Message, OutboxStatus
from messaging.tests.conftest import send_api_url
from rules.models import ResponseRule

pytestmark = pytest.mark.django_db

CRM = "https://crm.example.com/instabot"


@pytest.fixture(autouse=True)
def allowed(settings, monkeypatch):
    settings.EXTERNAL_REQUEST_ALLOWED_HOSTS = ["crm.example.com", "127.0.0.1", "inside.example"]
    addresses = {"crm.example.com": ["93.184.215.14"], "inside.example": ["10.0.0.9"]}
    monkeypatch.setattr(safe_urls, "resolve", lambda host, port: addresses[host])


@pytest.fixture
def order_rule(shop):
    ContactField.objects.create(account=shop, key="city", label="City")
    ContactField.objects.create(account=shop, key="email", label="Email", kind="email")
    rule = ResponseRule.objects.create(
        account=shop, keywords="order", response_text="Looking it up!"
    )
    RuleAction.objects.create(rule=rule, kind="request", url=CRM)
    return rule


@pytest.fixture
def meta(graph_api):
    graph_api.add(
        responses.POST, send_api_url(), json={"recipient_id": "1", "message_id": "mid.reply"}
    )
    return graph_api


def send_everything():
    # The sends that call no Meta finish in their own threads: settled, as a one-pass
    # worker does before it ends.
    while outbox.send_due() or outbox.settle():
        pass


def test_the_contact_and_message_go_out_and_fields_come_back(shop, order_rule, deliver, meta):
    meta.add(
        responses.POST,
        CRM,
        json={"city": "Lyon", "email": "not an email", "plan": "gold", "nested": {"a": [1]}},
    )
    deliver(dm("where is my order?", "aWdfZAG1order"))
    send_everything()

    reply = Message.objects.get(author="bot")
    assert reply.status == "sent" and reply.text == "Looking it up!"
    posted = json.loads(next(c.request.body for c in meta.calls if c.request.url == CRM))
    assert posted["message"]["text"] == "where is my order?"
    assert posted["contact"]["customer_id"] == "1234567890123456"
    contact = Contact.objects.get()
    assert dict(contact.values.values_list("field__key", "value")) == {"city": "Lyon"}
    request = ExternalRequest.objects.get()
    assert request.status == OutboxStatus.SENT
    assert request.outcome.startswith("saved city; refused email:")


@pytest.mark.parametrize(
    "answer",
    [
        {"status": 500},
        {"body": "<html>not json</html>"},
        {"json": ["a", "list"]},
        {"json": {"city": "x" * 2_000_000}},
        {"json": {"city": "\ud800 lone"}},
    ],
)
def test_a_failing_endpoint_never_blocks_the_reply(shop, order_rule, deliver, meta, answer):
    meta.add(responses.POST, CRM, **answer)
    deliver(dm("where is my order?", "aWdfZAG1order"))
    send_everything()

    assert Message.objects.get(author="bot").status == "sent"
    assert not Contact.objects.get().values.exists()
    assert ExternalRequest.objects.get().status in (OutboxStatus.QUEUED, OutboxStatus.SENT)


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/x",
        "https://inside.example/x",
        "https://elsewhere.example.com/x",
        "http://crm.example.com/x",
        "https://crm.example.com/\ud800",
        "https://crm.example.com/" + "a" * 2_000_000,
    ],
)
def test_a_url_not_allowed_is_a_400(api, shop, url, settings):
    settings.DEBUG = False
    settings.INSTALLED_APPS = [app for app in settings.INSTALLED_APPS if app != "devtools"]
    rule = ResponseRule.objects.create(account=shop, keywords="order", response_text="Hi")
    body = {"rule": rule.pk, "kind": "request", "url": url}
    answer = api.post("/api/rule-actions/", json.dumps(body), content_type="application/json")
    assert answer.status_code == 400, answer.content[:300]
    assert not RuleAction.objects.exists()
