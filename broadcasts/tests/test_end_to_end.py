"""A broadcast end to end: customers write through the webhook (live server), one says STOP,
one's window closes; staff send a broadcast through the API; the real `manage.py worker`
sends it through the one outbox to the fake Graph API, whose echoes pause no bot."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from broadcasts.models import Broadcast
from inbox.tests.conftest import make_account
from messaging.models import Conversation, Message
from messaging.tests.conftest import ACCOUNT_ID
from messaging.tests.test_end_to_end import fake_graph  # noqa: F401  (fixture)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

OPEN, CLOSED, STOPPED = "1111111111111111", "2222222222222222", "3333333333333333"
TEXT = "Winter sale: 20% off until Sunday"


def test_broadcast_reaches_open_windows_only_through_the_worker(
    live_server,
    fake_graph,  # noqa: F811
    run_worker,
    api,
):
    shop = make_account(ACCOUNT_ID, "Shop")
    for sender, text in [
        (OPEN, "hello"),
        (CLOSED, "hi there"),
        (STOPPED, "hey"),
        (STOPPED, "STOP"),
    ]:
        call_command(
            "simulate_dm",
            sender=sender,
            text=text,
            url=f"{live_server.url}/webhooks/instagram",
        )
    run_worker()
    # A day has passed since this customer wrote.
    Message.objects.filter(conversation__customer_id=CLOSED).update(
        timestamp=timezone.now() - timedelta(hours=30)
    )
    seen = len(fake_graph.calls)

    draft = api.post(
        "/api/broadcasts/",
        {"account": shop.pk, "name": "Winter", "text": TEXT, "segment": ""},
        format="json",
    ).json()
    assert draft["reach"] == {
        "contacts": 3,
        "reachable_now": 1,
        "window_closed": 1,
        "opted_out": 1,
    }
    assert api.post(f"/api/broadcasts/{draft['id']}/send/").status_code == 200
    run_worker()  # sends; the fake echoes each DM to the webhook
    run_worker()  # handles the echoes

    got_it = [
        call.get("recipient_id") for call in fake_graph.calls[seen:] if call.get("text") == TEXT
    ]
    assert got_it == [OPEN]
    counts = Broadcast.objects.get().counts()
    assert (counts["sent"], counts["skipped_for_window"], counts["opted_out"]) == (1, 1, 1)
    conversation = Conversation.objects.get(customer_id=OPEN)
    assert conversation.messages.filter(text=TEXT).count() == 1  # the echo matched it
    assert not conversation.bot_is_paused()
