"""A DM's whole path, without Instagram: simulate_dm -> webhook (live server) -> worker ->
fake Graph API -> echo back to the webhook."""

import time
from datetime import timedelta

import pytest
import requests
from django.core.management import CommandError, call_command

from devtools.fake_graph import FakeGraphAPI
from messaging.models import Message, WebhookDelivery
from messaging.tests.test_sending_replies import make_due

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fake_graph(live_server, settings):
    fake = FakeGraphAPI(
        echo_webhook_url=f"{live_server.url}/webhooks/instagram",
        app_secret=settings.FACEBOOK_APP_SECRET,
        account_id="17841400000000001",
    ).start()
    settings.GRAPH_API_BASE_URL = fake.base_url
    yield fake
    fake.stop()


def wait_for(condition, seconds=10):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def simulate_dm(live_server, text, sender="1234567890123456", **options):
    call_command(
        "simulate_dm",
        sender=sender,
        text=text,
        url=f"{live_server.url}/webhooks/instagram",
        **options,
    )


def test_a_simulated_dm_is_answered_through_the_fake_graph_api(live_server, fake_graph, run_worker):
    simulate_dm(live_server, "Bonjour 👋 do you ship to Lyon?")
    assert WebhookDelivery.objects.get().state == "received"  # accepted; the worker handles it

    run_worker()  # handles the delivery, then sends the reply it queued
    incoming = Message.objects.get(direction="in")
    assert incoming.text == "Bonjour 👋 do you ship to Lyon?"
    assert len(fake_graph.calls) == 1
    call = fake_graph.calls[0]
    assert call["recipient_id"] == "1234567890123456"
    assert call["text"] == "Thanks for your message! We'll get back to you soon."
    assert call["authorized"] is True

    # Meta's echo of our reply arrives and is matched to it, not stored as a staff message.
    assert wait_for(lambda: WebhookDelivery.objects.count() == 2)
    run_worker()
    assert WebhookDelivery.objects.filter(state="processed").count() == 2
    reply = Message.objects.get(direction="out")
    assert (reply.author, reply.status, reply.mid) == ("bot", "sent", call["message_id"])


def test_redelivered_dm_is_answered_once(live_server, fake_graph, run_worker):
    simulate_dm(live_server, "hello", mid="aWdfZAG1same")
    simulate_dm(live_server, "hello", mid="aWdfZAG1same")
    run_worker()
    assert len(fake_graph.calls) == 1


def test_fake_graph_api_can_fail_like_meta_and_the_reply_recovers(
    live_server, fake_graph, run_worker
):
    requests.post(f"{fake_graph.base_url}/_fake/fail", json={"kind": "rate_limit"}, timeout=5)
    simulate_dm(live_server, "hello")
    run_worker()
    reply = Message.objects.get(direction="out")
    assert reply.status == "queued"
    assert "613" in reply.last_error

    make_due()
    run_worker()
    assert Message.objects.get(pk=reply.pk).status == "sent"
    outcomes = [call["outcome"] for call in fake_graph.calls]
    assert outcomes == ["rate_limit", "sent"]


def test_the_readme_demo_shows_failing_sends_retried(live_server, fake_graph, run_worker):
    # README, "Watch a DM get answered": a DM, then the fake told to fail the next two sends,
    # then another DM. Without --sender each DM is a new customer, so the second one is
    # answered too (the same customer would be under the fallback's cooldown).
    url = f"{live_server.url}/webhooks/instagram"
    call_command("simulate_dm", text="Hello! Is the shop open?", url=url)
    run_worker()
    requests.post(
        f"{fake_graph.base_url}/_fake/fail", json={"kind": "transient", "times": 2}, timeout=5
    )
    call_command("simulate_dm", text="Hello! Is the shop open?", url=url)
    run_worker()
    for _ in range(2):  # each retry waits SEND_RETRY_BASE_DELAY-ish seconds; skip the wait
        make_due()
        run_worker()
    outcomes = [call["outcome"] for call in fake_graph.calls]
    assert outcomes == ["sent", "transient", "transient", "sent"]
    first, second = (call["recipient_id"] for call in fake_graph.calls[::3])
    assert first != second
    replies = Message.objects.filter(author="bot").order_by("id")
    assert [(r.status, r.attempts) for r in replies] == [("sent", 1), ("sent", 3)]


def test_simulate_dm_reports_a_delivery_the_server_did_not_accept(live_server):
    with pytest.raises(CommandError, match="answered 404"):
        call_command("simulate_dm", sender="1", text="hi", url=f"{live_server.url}/wrong-path")


def test_simulate_dm_reports_an_unreachable_server():
    with pytest.raises(CommandError, match="Could not reach"):
        call_command(
            "simulate_dm", sender="1", text="hi", url="http://127.0.0.1:9/webhooks/instagram"
        )


def test_the_fake_graph_api_answers_token_checks_and_refreshes(fake_graph, settings):
    from accounts.models import InstagramBusinessAccount
    from accounts.services import check_token, refresh_expiring_tokens

    settings.INSTAGRAM_GRAPH_API_BASE_URL = fake_graph.base_url
    account = InstagramBusinessAccount(
        instagram_id="17841400000000001", name="Shop", api="instagram_login"
    )
    account.set_access_token("IGQVJ-demo")
    account.save()
    assert check_token(account).startswith("ok: fake.business")
    two_days_ago = account.access_token_set_at - timedelta(days=2)
    InstagramBusinessAccount.objects.update(access_token_set_at=two_days_ago)
    assert refresh_expiring_tokens() == 1
