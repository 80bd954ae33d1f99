"""PostgreSQL's connection pool as the web processes use it: a connection that died in the pool
(a database restart, a server that dropped it) costs no delivery."""

import psycopg
import pytest
from django.db import connection

from devtools.simulation import message_delivery, signed_headers
from messaging.models import WebhookDelivery
from messaging.tests.conftest import ACCOUNT_ID

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql" or not connection.settings_dict["OPTIONS"].get("pool"),
        reason="about PostgreSQL's connection pool",
    ),
    # Requests take their connection from the pool and give it back, as in production.
    pytest.mark.django_db(transaction=True),
]


def post_delivery(client, mid: str):
    body = message_delivery(
        account_id=ACCOUNT_ID,
        sender_id="1234567890123456",
        recipient_id=ACCOUNT_ID,
        text="hi",
        mid=mid,
    )
    headers = signed_headers(body, "test-app-secret")
    return client.post(
        "/webhooks/instagram", data=body, content_type=headers.pop("Content-Type"), headers=headers
    )


def kill_every_connection_to_this_database() -> None:
    """What a database restart does to the pool's idle connections: the server ends them."""
    config = connection.settings_dict
    with psycopg.connect(
        dbname=config["NAME"],
        user=config["USER"] or None,
        password=config["PASSWORD"] or None,
        host=config["HOST"] or None,
        port=config["PORT"] or None,
        autocommit=True,
    ) as killer:
        killer.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


def test_a_delivery_is_stored_when_the_pooled_connections_died_meanwhile(client):
    assert post_delivery(client, "before").status_code == 200
    # Given back to the pool, as the server does at the end of each request (Django's test
    # client keeps it instead).
    connection.close()
    kill_every_connection_to_this_database()

    response = post_delivery(client, "after")

    assert response.status_code == 200
    assert WebhookDelivery.objects.count() == 2
