"""Every business event an endpoint can ask for is queued where it happens — a new contact, a
tag added or removed and a field saved by a rule's flow, a conversation that needs a person
and its resolution in the inbox, a comment answered — and delivered signed."""

import itertools
import json
import re

import pytest
import responses
from django.conf import settings

from contacts.models import ContactField, RuleAction
from contacts.tests.conftest import dm
from messaging import outbox
from messaging.hooks import BUSINESS_EVENTS
from messaging.models import Conversation, OutboxStatus
from messaging.tests.conftest import deliver, graph_api  # noqa: F401  (fixtures)
from outgoing_webhooks.delivering import forget_endpoints, signature
from outgoing_webhooks.models import EndpointDelivery, WebhookEndpoint
from outgoing_webhooks.tests.conftest import HOOK_URL
from rules.models import ResponseRule

pytestmark = pytest.mark.django_db

COMMENTER = "5550000000000001"


@pytest.fixture
def everything(shops):
    """An endpoint of shop A asking for every event."""
    hook = WebhookEndpoint(account=shops[0], url=HOOK_URL, events=list(BUSINESS_EVENTS))
    hook.new_secret()
    hook.save()
    forget_endpoints()
    return hook


@pytest.fixture
def meta_and_receiver(graph_api):  # noqa: F811
    """Meta answers every send (a new message id each), the endpoint answers 200."""
    ids = itertools.count(1)

    def sent(request):
        recipient = json.loads(request.body)["recipient"]
        customer = recipient.get("id") or COMMENTER
        return 200, {}, json.dumps({"recipient_id": customer, "message_id": f"m-{next(ids)}"})

    base = re.escape(settings.GRAPH_API_BASE_URL)
    graph_api.add_callback(responses.POST, re.compile(rf"{base}/v[\d.]+/\w+/messages"), sent)
    graph_api.add(responses.POST, HOOK_URL, json={"ok": True})
    return graph_api


def queued() -> list[str]:
    return sorted(EndpointDelivery.objects.values_list("event", flat=True))


def test_every_event_is_queued_where_it_happens_and_delivered(
    shops,
    everything,
    deliver,  # noqa: F811
    meta_and_receiver,
    admin_client,
):
    from comments.tests.conftest import comment_payload, make_rule

    shop = shops[0]
    stage = ContactField.objects.create(account=shop, key="stage", label="Stage")
    price = ResponseRule.objects.create(account=shop, keywords="price", response_text="40 euros.")
    RuleAction.objects.create(rule=price, kind="add_tag", tag="interested")
    RuleAction.objects.create(rule=price, kind="set_field", field=stage, value="lead", position=1)
    never = ResponseRule.objects.create(account=shop, keywords="never", response_text="OK!")
    RuleAction.objects.create(rule=never, kind="remove_tag", tag="interested")

    deliver(dm("price?", "aWdfZAG1price"))
    assert queued() == ["contact.created", "contact.field_saved", "contact.tag_added"]
    EndpointDelivery.objects.all().delete()

    deliver(dm("never mind", "aWdfZAG1never"))
    assert queued() == ["contact.tag_removed"]
    EndpointDelivery.objects.all().delete()

    deliver(dm("where is my parcel?", "aWdfZAG1parcel"))  # only the fallback answers
    assert queued() == ["conversation.needs_reply"]
    conversation = Conversation.objects.get()
    assert admin_client.post(f"/inbox/c/{conversation.pk}/resolve").status_code == 200
    assert queued() == ["conversation.needs_reply", "conversation.resolved"]

    make_rule()
    deliver(comment_payload(author=COMMENTER))
    while outbox.send_due() or outbox.settle():
        pass
    assert "comment.answered" in queued()
    assert not EndpointDelivery.objects.exclude(status=OutboxStatus.SENT).exists()

    received = [call.request for call in meta_and_receiver.calls if call.request.url == HOOK_URL]
    assert sorted(request.headers["X-Instabot-Event"] for request in received) == queued()
    for request in received:
        timestamp = request.headers["X-Instabot-Timestamp"]
        assert request.headers["X-Instabot-Signature"] == signature(
            everything.secret, timestamp, request.body
        )
    answered = next(
        json.loads(r.body) for r in received if r.headers["X-Instabot-Event"] == "comment.answered"
    )
    assert answered["data"]["customer_id"] == COMMENTER
    assert answered["data"]["reply"] == "private"


def test_another_accounts_events_reach_none_of_its_endpoints(
    shops,
    everything,
    deliver,  # noqa: F811
):
    deliver(dm("price?", "aWdfZAG1other", customer="7770000000000001"))
    assert queued()  # shop A's new contact
    EndpointDelivery.objects.all().delete()
    WebhookEndpoint.objects.filter(pk=everything.pk).update(account=shops[1])
    forget_endpoints()
    deliver(dm("hello again", "aWdfZAG1again", customer="7770000000000001"))
    deliver(dm("hello", "aWdfZAG1new", customer="7770000000000002"))
    assert queued() == []
