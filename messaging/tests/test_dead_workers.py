"""Each claim names its worker; the work of a worker whose heartbeat stopped is taken back at
once by any live worker (recovery.recover_work_of_dead_workers), not after REPLY_STALLED_AFTER.
"""

import logging
import os
from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from messaging import receiving
from messaging.models import Message, WebhookDelivery, WorkerHeartbeat
from messaging.recovery import SweepResult, recover_work_of_dead_workers, sweep_stalled_replies
from messaging.tests.conftest import (
    answer_send,
    load_payload,
    send_tasks,
    sends,
    waiting_ids,
    with_mid,
)
from messaging.worker_identity import this_worker
from ops import heartbeat as heartbeat_thread

pytestmark = pytest.mark.django_db

DEAD = "host-a:4242:0badc0de"
LIVE = "host-b:77:5ca1ab1e"


def dm_from(customer_id: str, mid: str) -> dict:
    """A customer's DM, as in messages__text.json, from another customer."""
    payload = with_mid(load_payload("messages__text"), mid)
    payload["entry"][0]["messaging"][0]["sender"]["id"] = customer_id
    return payload


def echo_to(customer_id: str, mid: str, text: str) -> dict:
    """Meta's echo of a message the account sent to `customer_id`."""
    payload = with_mid(load_payload("messages__echo"), mid, text)
    payload["entry"][0]["messaging"][0]["recipient"]["id"] = customer_id
    return payload


def heartbeat(worker: str, seconds_ago: float) -> None:
    WorkerHeartbeat.objects.update_or_create(
        worker=worker, defaults={"last_seen": timezone.now() - timedelta(seconds=seconds_ago)}
    )


def dead_worker(settings) -> str:
    heartbeat(DEAD, seconds_ago=settings.WORKER_DEAD_AFTER + 1)
    return DEAD


def reply_to(customer_id: str) -> Message:
    return Message.objects.get(author="bot", conversation__customer_id=customer_id)


def sent_by(worker: str, customer_id: str, deliver) -> Message:
    """A DM whose reply `worker` claimed and is sending."""
    deliver(dm_from(customer_id, f"aWdfZAG1from-{customer_id}"))
    reply = reply_to(customer_id)
    assert Message.claim_for_sending(reply.pk, by=worker)
    return reply


def test_each_claim_names_the_worker_that_took_it(deliver, graph_api, run_worker):
    deliver(load_payload("messages__text"))
    assert WebhookDelivery.objects.get().claimed_by == this_worker()
    answer_send(graph_api)
    run_worker()
    reply = Message.objects.get(author="bot")
    assert (reply.status, reply.claimed_by) == ("sent", this_worker())


def test_the_worker_holds_the_reply_it_will_send_itself(deliver):
    deliver(load_payload("messages__text"), handle=False)
    receiving.handle_delivery(WebhookDelivery.objects.get())  # what take_delivery does first
    reply = Message.objects.get(author="bot")
    # Queued, no task queued for it: it belongs to this worker until it is sent.
    assert (reply.status, reply.claimed_by) == ("queued", this_worker())
    assert not send_tasks().exists()


def test_the_work_of_a_dead_worker_is_taken_back_at_once(deliver, graph_api, run_worker, settings):
    dead = dead_worker(settings)
    # A delivery it was handling.
    deliver(dm_from("1000000000000001", "aWdfZAG1handling"), handle=False)
    handling = WebhookDelivery.objects.get()
    assert WebhookDelivery.claim(handling.pk, by=dead)
    # A reply it was sending when it died: did Meta get it? Nobody knows.
    sent_by(dead, "1000000000000002", deliver)
    # A reply it was sending, whose echo has come meanwhile: Meta has it.
    echoed = sent_by(dead, "1000000000000003", deliver)
    deliver(echo_to("1000000000000003", "aWdfZAG1echoed", echoed.text))
    # A reply it stored and was about to send itself (no task for it).
    deliver(dm_from("1000000000000004", "aWdfZAG1held"))
    held = reply_to("1000000000000004")
    Message.objects.filter(pk=held.pk).update(claimed_by=dead)
    send_tasks().delete()  # what the dead worker ran, or was to run, is gone with it

    assert recover_work_of_dead_workers() == SweepResult(
        deliveries=1, resent=1, confirmed=1, handed_over=1
    )
    assert not WorkerHeartbeat.objects.filter(worker=dead).exists()
    assert recover_work_of_dead_workers() == SweepResult()  # once

    assert waiting_ids(10) == [handling.pk]
    assert (reply_to("1000000000000003").status, reply_to("1000000000000003").mid) == (
        "sent",
        "aWdfZAG1echoed",
    )
    answer_send(graph_api, times=3)
    run_worker()  # due now: no backoff, the worker died, Meta did not fail
    for customer in ("1000000000000001", "1000000000000002", "1000000000000004"):
        assert reply_to(customer).status == "sent"
    assert reply_to("1000000000000002").attempts == 2  # the dead worker's attempt counts
    assert len(sends(graph_api)) == 3  # nothing went twice, and the echoed reply not again


def test_a_live_worker_keeps_its_work(deliver, settings):
    heartbeat(LIVE, seconds_ago=settings.WORKER_DEAD_AFTER - 2)  # late, not dead
    reply = sent_by(LIVE, "1000000000000002", deliver)
    assert recover_work_of_dead_workers() == SweepResult()
    assert Message.objects.get(pk=reply.pk).status == "sending"
    assert WorkerHeartbeat.objects.filter(worker=LIVE).exists()


def test_work_of_a_process_without_a_heartbeat_is_left_to_the_stall_sweep(deliver):
    # `worker --once`, or a worker killed before its first beat: nobody can tell it is dead.
    reply = sent_by("cron-host:12:feedf00d", "1000000000000002", deliver)
    assert recover_work_of_dead_workers() == SweepResult()
    long_ago = timezone.now() - timedelta(hours=1)
    Message.objects.filter(pk=reply.pk).update(sending_started_at=long_ago)
    assert sweep_stalled_replies().resent == 1


def test_a_send_is_taken_over_once_however_many_recover_it(deliver, settings):
    dead = dead_worker(settings)
    reply = sent_by(dead, "1000000000000002", deliver)
    before = timezone.now()
    assert Message.take_over_send(reply.pk, "recoverer-1", from_worker=dead)
    # A second live worker that listed the dead worker's work before the first took it over:
    assert not Message.take_over_send(reply.pk, "recoverer-2", from_worker=dead)
    # The stall sweep, which read the send as old before it was taken over:
    assert not Message.take_over_send(reply.pk, "sweeper", started_before=before)
    assert Message.objects.get(pk=reply.pk).claimed_by == "recoverer-1"


def test_a_live_worker_takes_back_the_dead_ones_work_right_after_its_beat(deliver, settings):
    reply = sent_by(dead_worker(settings), "1000000000000002", deliver)
    heartbeat_thread.Heartbeat().beat()  # every WORKER_HEARTBEAT_INTERVAL
    assert Message.objects.get(pk=reply.pk).status == "queued"
    assert send_tasks().filter(status="READY").count() == 2  # its DM's, and the one now


def test_a_worker_whose_own_beat_was_late_judges_the_others_next_time(
    deliver, settings, monkeypatch
):
    reply = sent_by(dead_worker(settings), "1000000000000002", deliver)
    beating = heartbeat_thread.Heartbeat()
    # The database held this beat longer than a heartbeat interval (a long write, say): the
    # others' beats were likely held as well, and they must not be taken for dead for it.
    late = [100.0, 100.0 + settings.WORKER_HEARTBEAT_INTERVAL + 1]
    monkeypatch.setattr(heartbeat_thread.time, "monotonic", mock.Mock(side_effect=late))
    beating.beat()
    assert Message.objects.get(pk=reply.pk).status == "sending"
    on_time = [105.0, 105.1]  # the next beat, a heartbeat interval later
    monkeypatch.setattr(heartbeat_thread.time, "monotonic", mock.Mock(side_effect=on_time))
    beating.beat()
    assert Message.objects.get(pk=reply.pk).status == "queued"


def test_a_worker_that_beats_again_meanwhile_keeps_its_heartbeat(settings):
    cutoff = timezone.now() - timedelta(seconds=settings.WORKER_DEAD_AFTER)
    WorkerHeartbeat.beat(LIVE)  # after the recoverer found it silent
    WorkerHeartbeat.forget(LIVE, silent_since=cutoff)
    assert WorkerHeartbeat.objects.filter(worker=LIVE).exists()


def test_a_worker_taken_for_dead_says_so_when_it_beats_again(caplog):
    beating = heartbeat_thread.Heartbeat()
    beating.beat()
    WorkerHeartbeat.objects.all().delete()  # others took it for dead, and its work
    with caplog.at_level(logging.ERROR, logger="ops.heartbeat"):
        beating.beat()
    assert f"Worker {beating.worker} was taken for dead" in caplog.text
    assert WorkerHeartbeat.objects.filter(worker=beating.worker).exists()


def test_each_worker_process_has_its_own_name():
    _host, pid, random_part = this_worker().split(":")
    assert (int(pid), len(random_part)) == (os.getpid(), 8)
    assert this_worker() == this_worker()
