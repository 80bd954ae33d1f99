"""X-Hub-Signature-256 is checked on the raw bytes before anything is parsed or stored."""

import pytest
from django.test import Client

from messaging.models import Message, WebhookDelivery
from messaging.tests.conftest import WEBHOOK_URL, encode, load_payload
from meta import signatures

pytestmark = pytest.mark.django_db


def post(client, body, headers):
    return client.post(WEBHOOK_URL, data=body, content_type="application/json", headers=headers)


def test_valid_signature_is_accepted(deliver):
    assert deliver(load_payload("messages__text")).status_code == 200
    assert WebhookDelivery.objects.count() == 1


def test_missing_signature_is_refused_and_nothing_stored(client, caplog):
    response = post(client, encode(load_payload("messages__text")), {})
    assert response.status_code == 401
    assert WebhookDelivery.objects.count() == 0
    assert Message.objects.count() == 0
    assert "X-Hub-Signature-256 header is missing" in caplog.text


def test_signature_with_another_secret_is_refused(deliver, caplog):
    assert deliver(load_payload("messages__text"), secret="not-our-secret").status_code == 401
    assert WebhookDelivery.objects.count() == 0
    assert "does not match" in caplog.text


def test_signature_over_a_changed_body_is_refused(client, settings):
    body = encode(load_payload("messages__text"))
    signature = signatures.sign(body, settings.FACEBOOK_APP_SECRET)
    tampered = body.replace(b"blue jacket", b"free jacket")
    response = post(client, tampered, {"X-Hub-Signature-256": signature})
    assert response.status_code == 401
    assert Message.objects.count() == 0


def test_body_is_hashed_as_received_not_as_reserialised(client, settings):
    # Meta escapes non-ASCII characters; the fixture file is bytes exactly as Meta sends them.
    from messaging.tests.conftest import PAYLOADS

    raw = (PAYLOADS / "messages__emoji.json").read_bytes()
    assert b"\\ud83d" in raw  # escaped, as from Meta
    signature = signatures.sign(raw, settings.FACEBOOK_APP_SECRET)
    response = post(client, raw, {"X-Hub-Signature-256": signature})
    assert response.status_code == 200


def test_upper_case_hex_is_accepted(client, settings):
    body = encode(load_payload("messages__text"))
    signature = "sha256=" + signatures.sign(body, settings.FACEBOOK_APP_SECRET)[7:].upper()
    assert post(client, body, {"X-Hub-Signature-256": signature}).status_code == 200


@pytest.mark.parametrize(
    "header", ["sha1=abcdef", "abcdef0123", "sha256=", "sha256=zz-not-hex", "md5=123"]
)
def test_malformed_signature_headers_are_refused(client, header):
    body = encode(load_payload("messages__text"))
    assert post(client, body, {"X-Hub-Signature-256": header}).status_code == 401
    assert WebhookDelivery.objects.count() == 0


def test_legacy_sha1_header_alone_is_not_enough(client, settings):
    import hashlib
    import hmac

    body = encode(load_payload("messages__text"))
    sha1 = hmac.new(settings.FACEBOOK_APP_SECRET.encode(), body, hashlib.sha1).hexdigest()
    assert post(client, body, {"X-Hub-Signature": f"sha1={sha1}"}).status_code == 401


def test_webhook_needs_no_csrf_token_but_admin_login_does(settings):
    csrf_client = Client(enforce_csrf_checks=True)
    body = encode(load_payload("messages__text"))
    signature = signatures.sign(body, settings.FACEBOOK_APP_SECRET)
    assert post(csrf_client, body, {"X-Hub-Signature-256": signature}).status_code == 200
    response = csrf_client.post("/admin/login/", {"username": "a", "password": "b"})
    assert response.status_code == 403


def test_a_repeated_signature_header_is_refused(client, settings):
    body = encode(load_payload("messages__text"))
    good = signatures.sign(body, settings.FACEBOOK_APP_SECRET)
    # WSGI servers join repeated headers with commas; one of the two may well be right.
    response = post(client, body, {"X-Hub-Signature-256": f"{good},sha256=00ff"})
    assert response.status_code == 401
    assert WebhookDelivery.objects.count() == 0
