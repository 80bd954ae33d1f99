"""When no database connection can be had: the webhook answers 503 (Meta delivers it again)
and /healthz says why: the pool has none free, the server refuses new clients, or it is
unreachable. Also how the settings bound each process's connections (docs/connections.md)."""

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from unittest import mock

import pytest
from django.db import OperationalError, connection
from django.test import Client
from psycopg_pool import PoolTimeout

from devtools.simulation import message_delivery, signed_headers
from messaging.models import WebhookDelivery
from messaging.tests.conftest import ACCOUNT_ID

BASE_DIR = Path(__file__).resolve().parents[2]


def post_delivery(client: Client, path: str = "/webhooks/instagram"):
    body = message_delivery(
        account_id=ACCOUNT_ID,
        sender_id="1234567890123456",
        recipient_id=ACCOUNT_ID,
        text="hello",
        mid="aWdfZAG1unavailable",
    )
    headers = signed_headers(body, "test-app-secret")
    return client.post(path, data=body, content_type=headers.pop("Content-Type"), headers=headers)


# As the settings make them on PostgreSQL with the defaults (DB_POOL_*).
POOL_OPTIONS = {"pool": {"min_size": 1, "max_size": 4, "timeout": 10.0}}


def pool_timeout() -> OperationalError:
    """What Django raises when its pool has no connection free in time."""
    try:
        raise PoolTimeout("couldn't get a connection after 10.00 sec")
    except PoolTimeout as cause:
        try:
            raise OperationalError(str(cause)) from cause
        except OperationalError as exc:
            return exc


@pytest.mark.django_db
@pytest.mark.parametrize(
    "error, problem",
    [
        (
            OperationalError("FATAL:  sorry, too many clients already"),
            "the database refuses new connections: too many clients (max_connections)",
        ),
        (
            OperationalError(1040, "Too many connections"),
            "the database refuses new connections: too many clients (max_connections)",
        ),
        (
            OperationalError("connection failed: Connection refused"),
            "database unreachable (OperationalError)",
        ),
    ],
)
def test_healthz_says_why_the_database_cannot_be_used(client, error, problem):
    with mock.patch("ops.healthz.WebhookDelivery.objects.filter", side_effect=error):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "unhealthy", "problems": [problem]}


@pytest.mark.django_db
def test_healthz_says_when_the_pool_has_no_connection_free(client):
    with (
        mock.patch.dict(connection.settings_dict["OPTIONS"], POOL_OPTIONS),
        mock.patch("ops.healthz.WebhookDelivery.objects.filter", side_effect=pool_timeout()),
    ):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["problems"] == [
        "no database connection free within 10 s: this process's pool of 4 is all in use, "
        "or the database is not answering"
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("error", [pool_timeout(), OperationalError("too many clients already")])
def test_a_delivery_that_cannot_get_a_connection_is_answered_503(client, error):
    with (
        mock.patch.dict(connection.settings_dict["OPTIONS"], POOL_OPTIONS),
        mock.patch("messaging.views.accept_delivery", side_effect=error),
    ):
        response = post_delivery(client)
    assert response.status_code == 503  # Meta delivers it again


@pytest.mark.django_db
def test_the_account_webhook_answers_503_when_it_cannot_look_the_account_up(client):
    with mock.patch(
        "messaging.views.InstagramBusinessAccount.objects.filter",
        side_effect=OperationalError("connection failed: Connection refused"),
    ):
        response = post_delivery(client, path=f"/webhooks/instagram/{ACCOUNT_ID}")
    assert response.status_code == 503


@pytest.mark.django_db
def test_the_account_webhooks_handshake_says_the_account_could_not_be_read(client):
    with mock.patch(
        "messaging.views.InstagramBusinessAccount.objects.filter",
        side_effect=OperationalError("connection failed: Connection refused"),
    ):
        response = client.get(
            f"/webhooks/instagram/{ACCOUNT_ID}",
            {"hub.mode": "subscribe", "hub.verify_token": "x", "hub.challenge": "7"},
        )
    assert response.status_code == 503
    assert response.content == b"Could not read the account (database unavailable)"


# --- PostgreSQL's pool, for real ---------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="Django's pool is PostgreSQL's")
def test_with_every_pooled_connection_taken_requests_are_answered_503_until_one_is_free():
    pool = connection.pool
    held = []
    # Every connection the pool can give, taken (this thread's own among them); waiting a
    # moment for one, not DB_POOL_TIMEOUT.
    with mock.patch.object(pool, "timeout", 0.5):
        connection.ensure_connection()
        while True:
            try:
                held.append(pool.getconn(timeout=0.5))
            except PoolTimeout:
                break
        answers = {}

        def request_from_another_thread():
            client = Client()
            try:
                answers["healthz"] = client.get("/healthz")
                answers["webhook"] = post_delivery(client)
            finally:
                connection.close()

        try:
            thread = threading.Thread(target=request_from_another_thread)
            thread.start()
            thread.join()
        finally:
            for taken in held:
                pool.putconn(taken)

    assert answers["healthz"].status_code == 503
    assert answers["healthz"].json()["problems"][0].startswith("no database connection free")
    assert answers["webhook"].status_code == 503
    assert not WebhookDelivery.objects.exists()
    # With a connection free again, the same delivery is stored.
    assert post_delivery(Client()).status_code == 200
    assert WebhookDelivery.objects.count() == 1


# --- What the settings choose -------------------------------------------------------------------


def database_settings(*argv: str, **env) -> dict:
    """DATABASES["default"] as a fresh interpreter started with this command line reads it."""
    code = (
        "import json, sys; sys.argv = ['manage.py', *sys.argv[1:]]; "
        "import instabot.settings as s; print(json.dumps(s.DATABASES['default'], default=str))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, *argv],
        cwd=BASE_DIR,
        env={**os.environ, "ENV_FILE": os.devnull, "DEBUG": "on", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


POSTGRES = "postgres://u@127.0.0.1:5432/instabot"
MARIADB = "mysql://u@127.0.0.1:3306/instabot"


def test_postgresql_goes_through_a_pool_of_bounded_size_per_process():
    database = database_settings(
        "gunicorn",
        DATABASE_URL=POSTGRES,
        DB_POOL_MIN_SIZE="2",
        DB_POOL_MAX_SIZE="6",
        DB_POOL_TIMEOUT="3",
    )
    assert database["OPTIONS"]["pool"] == {"min_size": 2, "max_size": 6, "timeout": 3.0}
    assert database["CONN_MAX_AGE"] == 0  # the pool keeps them


def test_postgresql_without_a_pool_keeps_connections_as_other_databases_do():
    database = database_settings("gunicorn", DATABASE_URL=POSTGRES, DB_POOL_MAX_SIZE="0")
    assert "pool" not in database.get("OPTIONS", {})
    assert database["CONN_MAX_AGE"] == 300


def test_postgresql_binds_on_the_client_and_prepares_nothing_unless_told(monkeypatch):
    for name in ("DB_SERVER_SIDE_BINDING", "DB_PREPARE_THRESHOLD", "DB_HEALTH_CHECKS"):
        monkeypatch.delenv(name, raising=False)
    database = database_settings("worker", DATABASE_URL=POSTGRES)
    assert "server_side_binding" not in database["OPTIONS"]
    assert "prepare_threshold" not in database["OPTIONS"]
    assert database["CONN_HEALTH_CHECKS"] is True


def test_postgresql_can_bind_on_the_server_and_prepare_repeated_statements():
    database = database_settings(
        "worker", DATABASE_URL=POSTGRES, DB_SERVER_SIDE_BINDING="on", DB_PREPARE_THRESHOLD="5"
    )
    assert database["OPTIONS"]["server_side_binding"] is True
    assert database["OPTIONS"]["prepare_threshold"] == 5


def test_the_check_of_each_connection_before_use_can_be_switched_off():
    for url in (POSTGRES, MARIADB):
        assert (
            database_settings("worker", DATABASE_URL=url, DB_HEALTH_CHECKS="off")[
                "CONN_HEALTH_CHECKS"
            ]
            is False
        )


@pytest.mark.parametrize("url", [MARIADB, "sqlite:///db.sqlite3"])
def test_gunicorn_and_workers_keep_one_connection_per_thread(url):
    assert database_settings("worker", DATABASE_URL=url)["CONN_MAX_AGE"] == 300


@pytest.mark.parametrize("url", [MARIADB, "sqlite:///db.sqlite3", POSTGRES])
def test_the_development_server_closes_its_connection_after_each_request(url):
    database = database_settings("runserver", DATABASE_URL=url, CONN_MAX_AGE="300")
    assert database["CONN_MAX_AGE"] == 0


@pytest.mark.django_db
def test_staff_pages_and_the_api_answer_503_while_the_database_is_away(admin_client, api):
    from django.db.backends.utils import CursorWrapper

    admin_client.get("/admin/")  # logged in, and the URLconf loaded, before the outage
    down = OperationalError("could not connect to server: Connection refused")
    with mock.patch.object(CursorWrapper, "execute", side_effect=down):
        page = admin_client.get("/admin/messaging/conversation/")
        listed = api.get("/api/conversations/")
    assert page.status_code == 503
    assert listed.status_code == 503
    assert page["Retry-After"] == "5"
