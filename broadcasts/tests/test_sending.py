"""A broadcast through the one outbox: only open windows get it (checked when each DM goes),
opted-out contacts never, counted, scheduled, cancellable."""

import json
from datetime import timedelta
from itertools import count

import pytest
import responses
from django.utils import timezone

from broadcasts import sending
from broadcasts.models import Broadcast, BroadcastSend
from messaging import outbox
from messaging.models import Message, OutboxStatus
from messaging.tests.conftest import send_api_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def meta_accepts(graph_api):
    ids = count(1)

    def accept(request):
        body = json.loads(request.body)
        answer = {"recipient_id": body["recipient"]["id"], "message_id": f"mid.b{next(ids)}"}
        return 200, {}, json.dumps(answer)

    graph_api.add_callback(responses.POST, send_api_url(), callback=accept)
    return graph_api


def sent_to(mock) -> list[str]:
    return [
        json.loads(call.request.body)["recipient"]["id"]
        for call in mock.calls
        if call.request.method == "POST"
    ]


def test_reach_says_who_gets_it_now_and_why_not_the_others(mixed_segment, vip_broadcast):
    assert sending.reach(vip_broadcast) == sending.Reach(
        contacts=5, reachable=2, window_closed=2, opted_out=1
    )


def test_broadcast_to_a_mixed_segment_reaches_only_open_windows(
    mixed_segment, vip_broadcast, meta_accepts
):
    assert sending.queue(vip_broadcast) == 4  # the opted-out contact gets no row

    while outbox.send_due():
        pass

    assert sorted(sent_to(meta_accepts)) == ["2001", "2002"]
    assert vip_broadcast.counts() == {
        "queued": 0,
        "sent": 2,
        "failed": 0,
        "skipped_for_window": 2,
        "opted_out": 1,
        "cancelled": 0,
    }
    # The customer's conversation shows it; its echo will match it (no takeover).
    shown = Message.objects.get(conversation=mixed_segment["open"][0].conversation, mid="mid.b1")
    assert shown.text == "Winter sale: 20% off today"
    assert shown.details == {"broadcast": vip_broadcast.pk}
    closed = BroadcastSend.objects.get(contact=mixed_segment["closed"])
    assert closed.status == OutboxStatus.CANCELLED
    assert "24 hours" in closed.last_error


def test_window_and_opt_out_are_checked_when_each_dm_goes(
    mixed_segment, vip_broadcast, meta_accepts
):
    sending.queue(vip_broadcast)
    first, second = mixed_segment["open"]
    # After queuing: one says STOP, the other's window closes.
    first.opted_out_at = timezone.now()
    first.save()
    Message.objects.filter(conversation=second.conversation).update(
        timestamp=timezone.now() - timedelta(hours=25)
    )

    while outbox.send_due():
        pass

    assert sent_to(meta_accepts) == []
    figures = vip_broadcast.counts()
    assert (figures["sent"], figures["opted_out"], figures["skipped_for_window"]) == (0, 2, 3)


def test_scheduled_broadcast_waits_for_its_time(mixed_segment, vip_broadcast, meta_accepts):
    sending.queue(vip_broadcast, timezone.now() + timedelta(hours=2))

    assert outbox.send_due() == 0
    assert vip_broadcast.counts()["queued"] == 4
    assert outbox.backlog().due == 0


def test_cancelled_broadcast_sends_nothing_more(mixed_segment, vip_broadcast, meta_accepts):
    sending.queue(vip_broadcast, timezone.now() + timedelta(hours=2))

    assert sending.cancel(vip_broadcast) == 4
    BroadcastSend.objects.update(due_at=timezone.now())  # even were they due

    assert outbox.send_due() == 0
    assert vip_broadcast.status == Broadcast.Status.CANCELLED
    assert vip_broadcast.counts()["cancelled"] == 4
    assert sent_to(meta_accepts) == []


def test_a_broadcast_is_queued_once(mixed_segment, vip_broadcast):
    assert sending.queue(vip_broadcast) == 4
    assert sending.queue(vip_broadcast) == 0
    assert BroadcastSend.objects.count() == 4


def test_meta_refusing_one_dm_counts_it_failed(mixed_segment, vip_broadcast, graph_api):
    refused = {
        "error": {"message": "No matching user found", "code": 100, "type": "OAuthException"}
    }
    graph_api.add(responses.POST, send_api_url(), json=refused, status=400)
    sending.queue(vip_broadcast)

    while outbox.send_due():
        pass

    figures = vip_broadcast.counts()
    assert (figures["sent"], figures["failed"]) == (0, 2)


def test_echo_of_a_broadcast_in_flight_does_not_pause_the_bot(mixed_segment, vip_broadcast):
    sending.queue(vip_broadcast)
    BroadcastSend.objects.update(status=OutboxStatus.SENDING)

    class Echo:
        account_id = vip_broadcast.account.instagram_id
        text = "Winter sale: 20% off today"

    assert sending.is_broadcast_echo(Echo())
    Echo.text = "something staff typed"
    assert not sending.is_broadcast_echo(Echo())
