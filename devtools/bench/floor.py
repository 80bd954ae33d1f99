"""The floor: the irreducible work of answering one DM, in a tight loop in one process, on the
service's database, against the same fake Graph API: what no design of the service can go
under on this machine at this moment.

Per DM: verify the signature of a ~1 KB delivery and parse it; store the raw delivery (one
insert, autocommitted, as the webhook does); store the customer's message and the reply in one
transaction (two inserts); one Send API POST over a kept-alive connection; record the reply
sent (one update). The statements are written once and run with new values each time, with
none of the ORM's building: what is left is the database's work and its driver's, the HTTP
call, the HMAC and the JSON.

Run inside `manage.py shell` with the service's environment (Service.shell); prints one JSON
line. The CPU counted is this thread's (time.thread_time) plus, on PostgreSQL, the CPU of
this connection's backend process (read from /proc).
"""

import hashlib
import hmac
import json
import os
import time
import uuid
from pathlib import Path

import requests
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from messaging.models import Conversation, Message, WebhookDelivery


def _field(model, attname: str):
    return next(f for f in model._meta.concrete_fields if f.attname == attname)


def _insert(model, fields: list[str]) -> str:
    table = model._meta.db_table
    columns = ", ".join(connection.ops.quote_name(_field(model, f).column) for f in fields)
    return f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(fields))})"


def _prepared(model, values: dict) -> list:
    """Values as the database takes them (what the ORM's insert would send)."""
    return [
        _field(model, name).get_db_prep_save(value, connection) for name, value in values.items()
    ]


def _row_values(model, **changes) -> dict:
    """Every column of a row (its fields' defaults, then `changes`), by attribute name."""
    values = {
        field.attname: field.get_default()
        for field in model._meta.concrete_fields
        if not field.primary_key
    }
    values.update(changes)
    return values


def _backend_cpu_seconds() -> float:
    if connection.vendor != "postgresql":
        return 0.0
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(count: int, body: bytes, signature: str, warm_up: int = 100) -> dict:
    secret = settings.FACEBOOK_APP_SECRET.encode()
    conversation, _ = Conversation.objects.get_or_create(
        instagram_account_id="17841400000000999", customer_id="999000999"
    )
    delivery_template = _row_values(WebhookDelivery, state="processed")
    delivery_sql = _insert(WebhookDelivery, list(delivery_template))
    template = _row_values(
        Message, conversation_id=conversation.pk, direction="in", author="customer"
    )
    message_sql = _insert(Message, list(template))
    table = Message._meta.db_table
    sent_sql = (
        f"UPDATE {table} SET status = %s, mid = %s, timestamp = %s, due_at = NULL WHERE id = %s"
    )
    # The reply's id comes back with its insert, as the ORM has it.
    returning = connection.features.can_return_columns_from_insert
    reply_sql = message_sql + (" RETURNING id" if returning else "")
    session = requests.Session()
    url = f"{settings.GRAPH_API_BASE_URL}/{settings.GRAPH_API_VERSION}/me/messages"
    headers = {"Authorization": "Bearer floor-token"}

    def one_dm(n: int) -> None:
        # Verify and parse, as the webhook and the worker do.
        expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(expected, signature)
        event = json.loads(body)["entry"][0]["messaging"][0]
        now = timezone.now()
        with connection.cursor() as cursor:
            cursor.execute(
                delivery_sql,
                _prepared(
                    WebhookDelivery,
                    {**delivery_template, "body": body, "handling_since": now, "received_at": now},
                ),
            )
            reply_text = f"floor reply {n}"
            with transaction.atomic():
                cursor.execute(
                    message_sql,
                    _prepared(
                        Message,
                        {
                            **template,
                            "mid": f"floor-{uuid.uuid4().hex}",
                            "text": event["message"]["text"],
                            "timestamp": now,
                            "created_at": now,
                        },
                    ),
                )
                cursor.execute(
                    reply_sql,
                    _prepared(
                        Message,
                        {
                            **template,
                            "direction": "out",
                            "author": "bot",
                            "status": "queued",
                            "mid": None,
                            "text": reply_text,
                            "created_at": now,
                        },
                    ),
                )
                reply_id = cursor.fetchone()[0] if returning else cursor.lastrowid
            answer = session.post(
                url,
                json={"recipient": {"id": event["sender"]["id"]}, "message": {"text": reply_text}},
                headers=headers,
                timeout=10,
            ).json()
            cursor.execute(sent_sql, ["sent", answer["message_id"], timezone.now(), reply_id])

    for n in range(warm_up):
        one_dm(-n - 1)
    backend_before, started = _backend_cpu_seconds(), time.thread_time()
    wall = time.monotonic()
    for n in range(count):
        one_dm(n)
    cpu = time.thread_time() - started
    backend = _backend_cpu_seconds() - backend_before
    wall = time.monotonic() - wall
    return {
        "dms": count,
        "cpu_ms_per_dm": round(1000 * (cpu + backend) / count, 3),
        "process_cpu_ms_per_dm": round(1000 * cpu / count, 3),
        "database_cpu_ms_per_dm": round(1000 * backend / count, 3),
        "database_cpu_measured": connection.vendor == "postgresql",
        "dms_per_second": round(count / wall, 1),
    }


def main(count: int, body_hex: str, signature: str) -> None:
    print("FLOOR " + json.dumps(run(count, bytes.fromhex(body_hex), signature)))
