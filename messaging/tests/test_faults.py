"""Faults from outside: the Graph API down for a while, the database locked during a delivery."""

import sqlite3

import pytest
from django.db import connection

from devtools.fake_graph import FakeGraphAPI
from messaging.models import Message, WebhookDelivery
from messaging.tests.conftest import load_payload
from messaging.tests.test_sending_replies import make_due


@pytest.mark.django_db
def test_replies_wait_out_a_graph_api_outage_and_go_after_recovery(deliver, run_worker, settings):
    # The Graph API's address answers nothing: connection refused.
    fake = FakeGraphAPI().start()
    host, port = fake.base_url, int(fake.base_url.rsplit(":", 1)[1])
    fake.stop()
    settings.GRAPH_API_BASE_URL = host
    deliver(load_payload("messages__text"))
    for _ in range(3):
        run_worker()
        make_due()
    reply = Message.objects.get(author="bot")
    assert (reply.status, reply.attempts) == ("queued", 3)
    assert "could not reach the Graph API" in reply.last_error

    # Back, but failing with 5xx and timeouts a while longer; then well.
    fake = FakeGraphAPI(port=port).start()
    try:
        settings.GRAPH_API_TIMEOUT = 0.5
        fake.fail_next("server_error")
        fake.fail_next("timeout", seconds=1)
        for _ in range(3):
            run_worker()
            make_due()
        reply.refresh_from_db()
        assert reply.status == "sent"
        assert [call["outcome"] for call in fake.calls] == ["server_error", "timeout", "sent"]
    finally:
        fake.stop()


@pytest.mark.django_db(transaction=True)
def test_a_locked_database_is_answered_503_and_the_retry_is_stored(deliver):
    if connection.vendor != "sqlite":
        pytest.skip("holds SQLite's file lock; MySQL and PostgreSQL have no whole-database lock")
    connection.close()
    connection.settings_dict["OPTIONS"] = {**connection.settings_dict["OPTIONS"], "timeout": 0.2}
    other = sqlite3.connect(connection.settings_dict["NAME"])
    try:
        other.execute("BEGIN EXCLUSIVE")  # another process holds the write lock past our wait
        payload = load_payload("messages__text")
        # Not stored: Meta must deliver again.
        assert deliver(payload, handle=False).status_code == 503
        other.rollback()
        assert deliver(payload).status_code == 200  # Meta's retry
    finally:
        other.close()
        connection.close()
        connection.settings_dict["OPTIONS"] = {**connection.settings_dict["OPTIONS"], "timeout": 20}
    assert WebhookDelivery.objects.count() == 1
    assert Message.objects.filter(direction="in").count() == 1
    assert Message.objects.filter(author="bot").count() == 1
