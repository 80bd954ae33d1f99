"""The worker's sweep puts back replies a worker held and never sent, or whose worker died
mid-send."""

from datetime import timedelta

import pytest
from django.utils import timezone

from messaging.models import Message
from messaging.recovery import SweepResult, sweep_stalled_sends
from messaging.tests.conftest import answer_send, load_payload, queued_sends, sends
from messaging.tests.test_sending_replies import make_due

pytestmark = pytest.mark.django_db


def reply():
    return Message.objects.get(author=Message.Author.BOT, part=1)


def long_ago():
    return timezone.now() - timedelta(hours=1)


def test_fresh_work_is_left_alone(deliver):
    deliver(load_payload("messages__text"))
    assert sweep_stalled_sends() == SweepResult()
    assert queued_sends().count() == 1


def test_queued_reply_a_live_worker_held_and_never_sent_is_let_go(deliver, graph_api, run_worker):
    deliver(load_payload("messages__text"))
    # Its worker stored it to send itself, then the database failed that send.
    Message.objects.filter(pk=reply().pk).update(due_at=long_ago(), claimed_by="host:1:a")

    assert sweep_stalled_sends().requeued == 1
    assert sweep_stalled_sends().requeued == 0  # once
    answer_send(graph_api)
    run_worker()
    assert reply().status == "sent"


def test_reply_of_a_worker_killed_mid_send_is_sent_again_by_the_next_worker(
    deliver, graph_api, run_worker
):
    deliver(load_payload("messages__text"))
    # A worker claimed the reply, then was killed before the Send API answered.
    claimed = reply()
    assert Message.claim_one(claimed.pk, "host:1:a")
    Message.objects.filter(pk=claimed.pk).update(claimed_at=long_ago())

    answer_send(graph_api, message_id="aWdfZAG1after-restart")
    run_worker()  # a new worker sweeps first: the reply is retried...
    make_due()
    run_worker()  # ...and sent
    sent = reply()
    assert (sent.status, sent.mid, sent.attempts) == ("sent", "aWdfZAG1after-restart", 2)
    assert "worker stopped during the send" not in sent.last_error
    assert len(sends(graph_api)) == 1


def test_killed_mid_send_but_echo_proves_delivery_so_nothing_is_sent_again(
    deliver, graph_api, run_worker
):
    deliver(load_payload("messages__text"))
    claimed = reply()
    Message.claim_one(claimed.pk, "host:1:a")
    Message.objects.filter(pk=claimed.pk).update(claimed_at=long_ago(), mid="aWdfZAG1echoed")

    assert sweep_stalled_sends().confirmed == 1
    assert (reply().status, reply().mid) == ("sent", "aWdfZAG1echoed")
    run_worker()
    assert len(sends(graph_api)) == 0


def test_a_sending_reply_that_is_merely_slow_is_not_touched(deliver):
    deliver(load_payload("messages__text"))
    Message.claim_one(reply().pk, "host:1:a")
    assert sweep_stalled_sends() == SweepResult()
    assert reply().status == "sending"


def test_split_reply_whose_next_part_was_never_released_continues(
    deliver, graph_api, run_worker, settings
):
    settings.DEFAULT_REPLY_TEXT = "y" * 1500
    deliver(load_payload("messages__text"))
    first = reply()
    Message.claim_one(first.pk, "host:1:a")
    first.mark_sent("aWdfZAG1part-1")  # ...and the process died before releasing part 2
    Message.objects.filter(part=2).update(created_at=long_ago())

    assert sweep_stalled_sends().released == 1
    answer_send(graph_api, message_id="aWdfZAG1part-2")
    run_worker()
    assert Message.objects.get(part=2).status == "sent"
