"""The worker hands its bot replies to the outbox's sender as it stored them (with their
conversations and accounts): claimed, then sent without being read again. What may change
between the DM's commit and the send is still seen: a takeover (the claim finds the reply
cancelled), a token staff replaced meanwhile (sent with the new one, the account not marked)."""

import pytest
import responses
from django.utils import timezone
from responses import matchers

from accounts import services
from accounts.models import InstagramBusinessAccount
from messaging import outbox, receiving
from messaging.models import Conversation, Message, SendThrottle
from messaging.outbox.outcomes import REPLACED_WHILE_SENDING
from messaging.replies import pause_bot_for_takeover
from messaging.tests.conftest import ACCOUNT_ID, load_payload, send_api_url, sends, with_mid

pytestmark = pytest.mark.django_db

EXPIRED_TOKEN = {"message": "Error validating access token", "code": 190, "error_subcode": 463}


@pytest.fixture
def shop(monkeypatch):
    shop = InstagramBusinessAccount(
        instagram_id=ACCOUNT_ID, name="Shop", fallback_reply="Hi!", send_typing=False
    )
    shop.set_access_token("EAAG-old-token")
    shop.save()
    # The worker read the account (as it routes a DM) and keeps it for a while.
    monkeypatch.setattr(services, "ACCOUNTS_FRESH_FOR", 3600.0)
    services.stored_account(ACCOUNT_ID)
    return shop


def dm_from(customer: str) -> dict:
    payload = with_mid(load_payload("messages__text"), f"aWdfZAG1from-{customer}", "hello")
    payload["entry"][0]["messaging"][0]["sender"]["id"] = customer
    return payload


def answer_with(graph_api, token: str, *, message_id: str = "", refused: bool = False) -> None:
    body = {"error": EXPIRED_TOKEN} if refused else {"message_id": message_id}
    graph_api.add(
        responses.POST,
        send_api_url(),
        json=body,
        status=401 if refused else 200,
        match=[matchers.header_matcher({"Authorization": f"Bearer {token}"})],
    )


def replace_token_in_another_process(shop, token: str, **state) -> None:
    """As staff reconnecting in the web process: no signal reaches this worker."""
    InstagramBusinessAccount.objects.filter(pk=shop.pk).update(
        access_token=token, access_token_set_at=timezone.now(), **state
    )


def test_a_reply_goes_with_what_the_worker_holds(shop, deliver, graph_api):
    answer_with(graph_api, "EAAG-old-token", message_id="m-1")
    deliver(dm_from("1000"), handle=False)

    assert receiving.take_waiting_deliveries() == 1

    reply = Message.objects.get(author="bot")
    assert (reply.status, reply.mid, reply.attempts) == ("sent", "m-1", 1)


def test_a_takeover_after_the_dm_committed_stops_the_reply_held(
    shop, deliver, graph_api, monkeypatch
):
    customers = ["2000", "2001", "2002"]
    for customer in customers:
        deliver(dm_from(customer), handle=False)
    answer_with(graph_api, "EAAG-old-token", message_id="m-2")
    answer_with(graph_api, "EAAG-old-token", message_id="m-3")
    send_replies = receiving.send_replies

    def staff_take_over_first(replies):
        taken = Conversation.objects.get(customer_id="2001")
        pause_bot_for_takeover(taken)  # in the web process, between the commit and the send
        send_replies(replies)

    monkeypatch.setattr(receiving, "send_replies", staff_take_over_first)

    assert receiving.take_waiting_deliveries() == 3

    statuses = dict(
        Message.objects.filter(author="bot").values_list("conversation__customer_id", "status")
    )
    assert statuses == {"2000": "sent", "2001": "cancelled", "2002": "sent"}
    assert len(sends(graph_api)) == 2


def test_a_token_refused_after_staff_replaced_it_goes_again_with_the_new_one(
    shop, deliver, graph_api
):
    deliver(dm_from("3000"), handle=False)
    replace_token_in_another_process(shop, "EAAG-new-token")
    answer_with(graph_api, "EAAG-old-token", refused=True)
    answer_with(graph_api, "EAAG-new-token", message_id="m-new")

    receiving.take_waiting_deliveries()  # with the token it held: refused

    reply = Message.objects.get(author="bot")
    assert (reply.status, reply.attempts) == ("queued", 1)
    assert reply.last_error.startswith(REPLACED_WHILE_SENDING)
    shop.refresh_from_db()
    assert shop.token_invalid_since is None  # the new token was never refused
    Message.objects.filter(pk=reply.pk).update(due_at=timezone.now())
    SendThrottle.objects.update(next_slot_at=None)

    assert outbox.send_due() == 1

    reply.refresh_from_db()
    assert (reply.status, reply.mid) == ("sent", "m-new")


def test_an_account_held_as_refused_is_read_again_before_its_reply_is_failed(
    shop, deliver, graph_api
):
    shop.mark_token_invalid("Error validating access token")
    services.forget_stored_accounts()
    services.stored_account(ACCOUNT_ID)  # the worker holds it as refused
    replace_token_in_another_process(shop, "EAAG-new-token", token_invalid_since=None)
    answer_with(graph_api, "EAAG-new-token", message_id="m-reconnected")
    deliver(dm_from("4000"), handle=False)

    assert receiving.take_waiting_deliveries() == 1

    reply = Message.objects.get(author="bot")
    assert (reply.status, reply.mid) == ("sent", "m-reconnected")
