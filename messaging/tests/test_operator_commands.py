"""What an operator runs: reprocess stored deliveries, prune them, retry failed sends."""

from datetime import timedelta
from io import StringIO
from unittest import mock

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.models import InstagramBusinessAccount
from devtools.simulation import signed_headers
from messaging.models import Conversation, Message, WebhookDelivery
from messaging.tests.conftest import answer_send, encode, load_payload, with_mid

pytestmark = pytest.mark.django_db


def run(*args):
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


# --- reprocess_webhooks ---


def test_reprocessing_is_idempotent(deliver):
    deliver(load_payload("messages__text"))
    deliver(load_payload("messages__echo"))
    before = list(Message.objects.values_list("pk", "mid", "status"))
    assert "2 handled" in run("reprocess_webhooks", "--since", "1d")
    assert "2 handled" in run("reprocess_webhooks", "--since", "1d")
    assert list(Message.objects.values_list("pk", "mid", "status")) == before


def test_reprocessing_catches_up_on_events_that_failed(deliver):
    with mock.patch(
        "messaging.events.conversation_for", side_effect=RuntimeError("a bug, since fixed")
    ):
        assert deliver(load_payload("messages__text")).status_code == 200
    assert WebhookDelivery.objects.get().state == "failed"
    assert not Message.objects.exists()

    run("reprocess_webhooks", "--since", "1h", "--state", "failed")
    assert WebhookDelivery.objects.get().state == "processed"
    assert Message.objects.filter(direction="in").count() == 1
    assert Message.objects.filter(author="bot").count() == 1


def test_reprocessing_queues_the_replies_for_the_worker_to_send(deliver, graph_api, run_worker):
    with mock.patch("messaging.events.conversation_for", side_effect=RuntimeError("a bug")):
        deliver(load_payload("messages__text"))
    run("reprocess_webhooks", "--since", "1h", "--state", "failed")
    assert Message.objects.get(author="bot").status == "queued"  # not sent from the command
    assert len(graph_api.calls) == 0

    answer_send(graph_api, message_id="aWdfZAG1reprocessed")
    run_worker()
    assert Message.objects.get(author="bot").mid == "aWdfZAG1reprocessed"


def test_reprocessing_days_later_stores_but_does_not_answer(deliver):
    payload = load_payload("messages__text")
    payload["entry"][0]["messaging"][0]["timestamp"] = int(
        (timezone.now() - timedelta(days=3)).timestamp() * 1000
    )
    body = encode(payload)
    WebhookDelivery.objects.create(body=body, headers=signed_headers(body, "test-app-secret"))
    run("reprocess_webhooks", "--since", "1d")
    assert Message.objects.filter(direction="in").count() == 1
    assert not Message.objects.filter(author="bot").exists()


def test_reprocessing_routes_with_the_secret_that_signed_each_delivery(client):
    other = InstagramBusinessAccount(
        instagram_id="17841400000000001", name="Other app", app_secret="other-secret"
    )
    other.set_access_token("EAAG-other")
    other.save()
    body = encode(load_payload("messages__text"))
    WebhookDelivery.objects.create(body=body, headers=signed_headers(body, "other-secret"))
    WebhookDelivery.objects.create(body=body, headers=signed_headers(body, "a-secret-long-gone"))
    out = run("reprocess_webhooks", "--since", "1d")
    assert "1 handled, 1 unsigned" in out
    assert Conversation.objects.get().account == other


def test_reprocess_needs_a_valid_age():
    with pytest.raises(CommandError, match="not an age"):
        call_command("reprocess_webhooks", "--since", "yesterday")


# --- prune_webhooks ---


def test_pruning_deletes_only_old_raw_deliveries_and_keeps_messages(deliver):
    deliver(load_payload("messages__text"))
    deliver(with_mid(load_payload("messages__text"), "m-new"))
    old = WebhookDelivery.objects.order_by("id").first()
    WebhookDelivery.objects.filter(pk=old.pk).update(
        received_at=timezone.now() - timedelta(days=31)
    )
    assert "Deleted 1 deliveries" in run("prune_webhooks", "--older-than", "30d")
    assert WebhookDelivery.objects.count() == 1
    assert Message.objects.filter(direction="in").count() == 2


# --- retry_failed_sends ---


def test_failed_sends_are_retried_after_an_outage(deliver, graph_api, run_worker, settings):
    settings.SEND_MAX_ATTEMPTS = 1
    settings.FALLBACK_COOLDOWN_HOURS = 0
    answer_send(graph_api, status=503, error={"message": "down", "code": 2}, times=2)
    deliver(load_payload("messages__text"))
    deliver(with_mid(load_payload("messages__text"), "m-2"))
    run_worker()
    assert set(Message.objects.filter(author="bot").values_list("status", flat=True)) == {"failed"}

    assert "Queued 2 failed message(s) again." in run("retry_failed_sends", "--since", "1h")
    answer_send(graph_api, times=2)
    run_worker()
    assert set(Message.objects.filter(author="bot").values_list("status", flat=True)) == {"sent"}


def test_retry_resumes_a_split_reply_whose_later_part_failed(
    deliver, graph_api, run_worker, settings
):
    settings.DEFAULT_REPLY_TEXT = "w" * 1500
    settings.SEND_MAX_ATTEMPTS = 1
    answer_send(graph_api, message_id="p1")
    answer_send(graph_api, status=503, error={"message": "down", "code": 2})
    deliver(load_payload("messages__text"))
    run_worker()
    assert list(
        Message.objects.filter(author="bot").order_by("part").values_list("status", flat=True)
    ) == ["sent", "failed"]

    assert "Queued 1 failed message(s) again." in run("retry_failed_sends")
    answer_send(graph_api, message_id="p2")
    run_worker()
    assert list(
        Message.objects.filter(author="bot").order_by("part").values_list("status", "mid")
    ) == [("sent", "p1"), ("sent", "p2")]


def test_retry_can_be_limited_to_one_account(deliver):
    deliver(load_payload("messages__text"))
    Message.objects.filter(author="bot").update(status="failed")
    assert "Queued 0" in run("retry_failed_sends", "--account", "999")
    assert "Queued 1" in run("retry_failed_sends", "--account", "17841400000000001")
