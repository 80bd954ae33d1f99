"""The worker sends queued replies through the Graph API, and handles every answer Meta gives."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from messaging.models import Message, SendThrottle
from messaging.sending import send_reply
from messaging.tests.conftest import (
    CUSTOMER_ID,
    answer_send,
    load_payload,
    queued_sends,
    sends,
    with_mid,
)

pytestmark = pytest.mark.django_db

TRANSIENT = {"message": "An unexpected error has occurred.", "code": 2, "is_transient": True}
OUTSIDE_WINDOW = {
    "message": "This message is sent outside of allowed window.",
    "code": 10,
    "error_subcode": 2534022,
}
EXPIRED_TOKEN = {
    "message": "Error validating access token: Session has expired",
    "code": 190,
    "error_subcode": 463,
}


def reply():
    return Message.objects.get(author=Message.Author.BOT)


def make_due():
    """Let time pass until every scheduled retry is due."""
    past = timezone.now() - timedelta(seconds=1)
    Message.objects.filter(due_at__isnull=False).update(due_at=past)
    SendThrottle.objects.update(next_slot_at=None, paused_until=None)


def test_worker_sends_the_reply_and_records_its_message_id(deliver, graph_api, run_worker):
    answer_send(graph_api, message_id="aWdfZAG1sent-42")
    deliver(load_payload("messages__text"))
    run_worker()

    sent = reply()
    assert (sent.status, sent.mid, sent.attempts, sent.last_error) == (
        "sent",
        "aWdfZAG1sent-42",
        1,
        "",
    )
    assert sent.timestamp is not None
    assert len(sends(graph_api)) == 1
    assert b'"id": "%s"' % CUSTOMER_ID.encode() in sends(graph_api)[0].request.body


def test_duplicate_delivery_sends_one_reply(deliver, graph_api, run_worker):
    answer_send(graph_api)
    payload = load_payload("messages__text")
    deliver(payload)
    deliver(payload)
    run_worker()
    deliver(payload)
    run_worker()
    assert len(sends(graph_api)) == 1


def test_a_reply_whose_task_runs_twice_is_sent_once(deliver, graph_api):
    answer_send(graph_api)
    deliver(load_payload("messages__text"))
    send_reply(reply().pk)
    send_reply(reply().pk)
    assert len(sends(graph_api)) == 1


def test_transient_failure_is_retried_soon_then_sent(deliver, graph_api, run_worker):
    answer_send(graph_api, status=500, error=TRANSIENT)
    answer_send(graph_api, message_id="aWdfZAG1second-try")
    deliver(load_payload("messages__text"))
    run_worker()

    waiting = reply()
    assert (waiting.status, waiting.attempts) == ("queued", 1)
    assert "Graph API error 2" in waiting.last_error
    # The first retry comes within 5 seconds: the sender's poll takes it once due.
    assert timezone.now() < waiting.due_at <= timezone.now() + timedelta(seconds=5)
    assert waiting.claimed_by == ""
    run_worker()  # not due yet: nothing happens
    assert len(sends(graph_api)) == 1

    make_due()
    run_worker()
    sent = reply()
    assert (sent.status, sent.mid, sent.attempts) == ("sent", "aWdfZAG1second-try", 2)


def test_backoff_grows_with_jitter_up_to_the_cap(settings):
    from messaging.outbox.outcomes import retry_delay

    settings.SEND_RETRY_BASE_DELAY, settings.SEND_RETRY_MAX_DELAY = 2, 60
    assert all(1 <= retry_delay(1) <= 2 for _ in range(50))
    assert all(4 <= retry_delay(3) <= 8 for _ in range(50))
    assert all(30 <= retry_delay(12) <= 60 for _ in range(50))
    assert len({retry_delay(5) for _ in range(20)}) > 1  # jittered


def test_transient_failures_give_up_after_the_configured_attempts(
    deliver, graph_api, run_worker, settings
):
    settings.SEND_MAX_ATTEMPTS = 3
    answer_send(graph_api, status=500, error=TRANSIENT, times=3)
    deliver(load_payload("messages__text"))
    for _ in range(4):
        run_worker()
        make_due()
    failed = reply()
    assert (failed.status, failed.attempts) == ("failed", 3)
    assert failed.last_error.startswith("gave up after 3 attempts")
    assert len(sends(graph_api)) == 3


def test_permanent_failure_marks_the_reply_failed_with_the_reason(deliver, graph_api, run_worker):
    answer_send(graph_api, status=400, error=OUTSIDE_WINDOW)
    deliver(load_payload("messages__text"))
    run_worker()
    failed = reply()
    assert failed.status == "failed"
    assert "outside of allowed window" in failed.last_error
    assert "10/2534022" in failed.last_error
    assert not queued_sends().exists()


def test_expired_token_fails_loudly_as_a_credentials_problem_without_the_token(
    deliver, graph_api, run_worker, caplog, settings
):
    answer_send(graph_api, status=401, error=EXPIRED_TOKEN)
    deliver(load_payload("messages__text"))
    run_worker()
    failed = reply()
    assert failed.status == "failed"
    assert failed.last_error.startswith("invalid access token")
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert any("CREDENTIALS PROBLEM" in r.getMessage() for r in errors)
    assert settings.INSTAGRAM_PAGE_ACCESS_TOKEN not in caplog.text
    assert settings.INSTAGRAM_PAGE_ACCESS_TOKEN not in failed.last_error


def test_echo_during_a_timed_out_attempt_prevents_a_second_send(deliver, graph_api, run_worker):
    import requests
    import responses

    from messaging.tests.conftest import send_api_url

    graph_api.add(responses.POST, send_api_url(), body=requests.ReadTimeout("slow"))
    deliver(load_payload("messages__text"))
    run_worker()
    assert reply().status == "queued"
    # Meta did get it: its echo arrives while we wait to retry.
    deliver(with_mid(load_payload("messages__echo"), "aWdfZAG1delivered", reply().text))
    make_due()
    run_worker()
    assert (reply().status, reply().mid) == ("sent", "aWdfZAG1delivered")
    assert len(sends(graph_api)) == 1


def test_long_reply_is_split_and_sent_in_order(deliver, graph_api, run_worker, settings):
    settings.DEFAULT_REPLY_TEXT = ("Ünïcödé and emoji 🙂 " * 120).strip()  # 3.4 KB of UTF-8
    deliver(load_payload("messages__text"))

    parts = list(Message.objects.filter(author=Message.Author.BOT).order_by("part"))
    assert [p.part for p in parts] == [1, 2, 3, 4]
    assert all(len(p.text.encode()) <= 1000 for p in parts)
    assert " ".join(p.text for p in parts) == settings.DEFAULT_REPLY_TEXT
    # Only the first part may go; each later part waits for the one before it.
    assert [p.due_at is None for p in parts] == [False, True, True, True]

    for n in range(4):
        answer_send(graph_api, message_id=f"part-{n + 1}")
    run_worker()
    sent = Message.objects.filter(author=Message.Author.BOT).order_by("part")
    assert [(m.status, m.mid) for m in sent] == [("sent", f"part-{n}") for n in range(1, 5)]
    sent_texts = [json.loads(call.request.body)["message"]["text"] for call in sends(graph_api)]
    assert sent_texts == [p.text for p in parts]


def test_when_a_part_fails_the_rest_of_the_reply_is_not_sent(
    deliver, graph_api, run_worker, settings
):
    settings.DEFAULT_REPLY_TEXT = "x" * 2500
    answer_send(graph_api, status=400, error={"message": "Unavailable", "code": 551})
    deliver(load_payload("messages__text"))
    run_worker()
    statuses = list(
        Message.objects.filter(author=Message.Author.BOT)
        .order_by("part")
        .values_list("status", "last_error")
    )
    assert statuses[0][0] == "failed"
    assert statuses[1:] == [("failed", "not sent: part 1 was not sent")] * 2
    assert len(sends(graph_api)) == 1


def test_reply_text_is_sent_intact_with_emoji(deliver, graph_api, run_worker, settings):
    settings.DEFAULT_REPLY_TEXT = "Merci ! On revient vers vous 🙏🏼✨"
    answer_send(graph_api)
    deliver(load_payload("messages__text"))
    run_worker()
    assert (
        json.loads(sends(graph_api)[0].request.body)["message"]["text"]
        == settings.DEFAULT_REPLY_TEXT
    )
