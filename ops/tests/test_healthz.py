"""/healthz: the database, the reply queue and the workers, in one answer for monitoring."""

from datetime import timedelta
from unittest import mock

import pytest
from django.db import OperationalError
from django.utils import timezone

from messaging.models import Message, WorkerHeartbeat
from messaging.tests.conftest import load_payload

pytestmark = pytest.mark.django_db


def test_healthy_with_a_live_worker_and_no_waiting_replies(client):
    WorkerHeartbeat.beat("host:1")
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["queue"] == {"backlog": 0, "oldest_wait_seconds": 0.0}
    assert body["worker"]["last_heartbeat_seconds_ago"] < 5


def test_a_fresh_backlog_is_reported_but_healthy(client, deliver):
    WorkerHeartbeat.beat("host:1")
    deliver(load_payload("messages__text"))
    body = client.get("/healthz").json()
    assert body["status"] == "ok"
    assert body["queue"]["backlog"] == 1


def test_a_reply_waiting_too_long_is_unhealthy(client, deliver, settings):
    WorkerHeartbeat.beat("host:1")
    deliver(load_payload("messages__text"))
    Message.objects.filter(author="bot").update(
        next_attempt_at=timezone.now() - timedelta(minutes=10)
    )
    response = client.get("/healthz")
    assert response.status_code == 503
    assert "the oldest due reply has waited 600 s" in response.json()["problems"][0]


def test_no_worker_or_a_silent_one_is_unhealthy(client, settings):
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["problems"] == ["no worker is running"]
    silent_for = settings.WORKER_DEAD_AFTER + 5
    WorkerHeartbeat.objects.create(
        worker="host:1", last_seen=timezone.now() - timedelta(seconds=silent_for)
    )
    problems = client.get("/healthz").json()["problems"]
    assert problems == [f"no worker heartbeat for {silent_for:.0f} s"]


def test_an_unreachable_database_is_unhealthy(client):
    with mock.patch(
        "ops.healthz.Message.objects.filter", side_effect=OperationalError("connection refused")
    ):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["problems"] == ["database unreachable (OperationalError)"]


def test_the_worker_beats_while_it_runs_and_says_so_when_it_stops(monkeypatch):
    from ops.heartbeat import Heartbeat

    heartbeat = Heartbeat()
    heartbeat.beat()  # what its thread does every WORKER_HEARTBEAT_INTERVAL
    assert list(WorkerHeartbeat.objects.values_list("worker", flat=True)) == [heartbeat.worker]
    heartbeat.stop()  # a graceful stop (the thread never ran here)
    assert not WorkerHeartbeat.objects.exists()


def test_healthz_is_served_over_plain_http_even_with_the_https_redirect(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    WorkerHeartbeat.beat("host:1")
    assert client.get("/healthz").status_code == 200
    assert client.get("/admin/").status_code == 301
