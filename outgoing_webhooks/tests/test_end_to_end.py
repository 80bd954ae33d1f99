"""An outgoing webhook end to end: a DM through the webhook (live server), a rule that tags the
customer, a real `manage.py worker` process that answers on the fake Graph API and POSTs the
event to an endpoint on 127.0.0.1 (OUTGOING_URLS_ALLOW_LOOPBACK, tests only), which fails,
then, at the next run, answers: delivered, signed the same, the endpoint healthy again."""

import hashlib
import hmac
import json

import pytest
from django.core.management import call_command
from django.utils import timezone

from contacts.models import RuleAction
from devtools.fake_endpoint import FakeEndpoint
from inbox.tests.conftest import make_account
from messaging.models import OutboxStatus
from messaging.tests.conftest import worker_process  # noqa: F401  (fixture)
from messaging.tests.test_end_to_end import fake_graph  # noqa: F401  (fixture)
from outgoing_webhooks.models import EndpointDelivery, WebhookEndpoint
from rules.models import ResponseRule

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ACCOUNT_ID = "17841400000000001"  # simulate_dm's and the fake Graph API's


@pytest.fixture
def hook():
    endpoint = FakeEndpoint([(503, "down for maintenance"), (204, "")]).start()
    yield endpoint
    endpoint.stop()


def test_an_endpoint_that_fails_then_recovers(live_server, fake_graph, hook, worker_process):  # noqa: F811
    shop = make_account(ACCOUNT_ID, "Shop")
    endpoint = WebhookEndpoint(account=shop, url=hook.url(), events=["contact.tag_added"])
    secret = endpoint.new_secret()
    endpoint.save()
    rule = ResponseRule.objects.create(keywords="price", response_text="It is 40 euros.")
    RuleAction.objects.create(rule=rule, kind="add_tag", tag="interested")
    call_command(
        "simulate_dm",
        sender="1234567890123456",
        text="price?",
        url=f"{live_server.url}/webhooks/instagram",
    )
    env = {"GRAPH_API_BASE_URL": fake_graph.base_url, "OUTGOING_URLS_ALLOW_LOOPBACK": "on"}

    worker_process(**env)

    assert [call["text"] for call in fake_graph.calls if call.get("text")] == ["It is 40 euros."]
    delivery = EndpointDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.answer_status) == (
        OutboxStatus.QUEUED,
        1,
        503,
    )
    assert delivery.last_error == "the endpoint answered 503"
    endpoint.refresh_from_db()
    assert endpoint.is_active and endpoint.failing_since is not None

    EndpointDelivery.objects.update(due_at=timezone.now())  # its retry's time has come
    worker_process(**env)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.answer_status) == (
        OutboxStatus.SENT,
        2,
        204,
    )
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None and endpoint.last_success_at is not None
    assert len(hook.calls) == 2
    first, second = (call["headers"] for call in hook.calls)
    assert first["X-Instabot-Delivery"] == second["X-Instabot-Delivery"] == str(delivery.pk)
    body = hook.calls[1]["body"]
    signed = second["X-Instabot-Timestamp"].encode() + b"." + body
    expected = "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, second["X-Instabot-Signature"])
    event = json.loads(body)
    assert event["event"] == "contact.tag_added" and event["data"]["tag"] == "interested"
