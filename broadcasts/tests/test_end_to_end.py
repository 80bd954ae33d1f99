"""A broadcast end to end: customers write through the webhook (live server), one says STOP,
staff opt another out, one's window closes; staff send a broadcast through the API; the real
`manage.py worker` sends it through the one outbox to the fake Graph API, whose echoes pause
no bot."""

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
OPEN_TOO, MARKED = "4444444444444444", "5555555555555555"
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
        (OPEN_TOO, "any news?"),
        (MARKED, "hi"),
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
    # Staff mark one customer as opted out (the contact's page, the inbox or the API).
    marked = Conversation.objects.get(customer_id=MARKED).pk
    answer = api.patch(f"/api/contacts/{marked}/", {"opted_out": True}, format="json")
    assert answer.status_code == 200 and answer.json()["opted_out"]

    draft = api.post(
        "/api/broadcasts/",
        {"account": shop.pk, "name": "Winter", "text": TEXT, "segment": ""},
        format="json",
    ).json()
    assert draft["reach"] == {
        "contacts": 5,
        "reachable_now": 2,
        "window_closed": 1,
        "opted_out": 2,
    }
    assert api.post(f"/api/broadcasts/{draft['id']}/send/").status_code == 200
    run_worker()  # sends; the fake echoes each DM to the webhook
    run_worker()  # handles the echoes

    got_it = [
        call.get("recipient_id") for call in fake_graph.calls[seen:] if call.get("text") == TEXT
    ]
    assert sorted(got_it) == [OPEN, OPEN_TOO]
    counts = Broadcast.objects.get().counts()
    assert (counts["sent"], counts["skipped_for_window"], counts["opted_out"]) == (2, 1, 2)
    assert counts["failed"] == 0
    conversation = Conversation.objects.get(customer_id=OPEN)
    assert conversation.messages.filter(text=TEXT).count() == 1  # the echo matched it
    assert not conversation.bot_is_paused()
