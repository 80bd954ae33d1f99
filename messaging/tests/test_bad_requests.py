"""Requests that are not deliveries get a clear 4xx and a log line, never a 500."""

import pytest

from devtools.simulation import signed_headers
from messaging.models import WebhookDelivery
from messaging.tests.conftest import WEBHOOK_URL, encode, load_payload

pytestmark = pytest.mark.django_db


def test_an_oversized_body_is_413_and_not_stored(client, settings, caplog):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    payload = load_payload("messages__text")
    payload["padding"] = "x" * 20_000
    body = encode(payload)
    headers = signed_headers(body, settings.FACEBOOK_APP_SECRET)
    response = client.post(
        WEBHOOK_URL, data=body, content_type=headers.pop("Content-Type"), headers=headers
    )
    assert response.status_code == 413
    assert WebhookDelivery.objects.count() == 0
    assert "over the limit" in caplog.text


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
def test_a_body_that_is_not_json_by_its_content_type_is_415(client, settings, content_type, caplog):
    body = encode(load_payload("messages__text"))
    headers = signed_headers(body, settings.FACEBOOK_APP_SECRET)
    headers.pop("Content-Type")
    response = client.post(WEBHOOK_URL, data=body, content_type=content_type, headers=headers)
    assert response.status_code == 415
    assert WebhookDelivery.objects.count() == 0
    assert "content type" in caplog.text


def test_json_with_a_charset_is_fine(client, settings):
    body = encode(load_payload("messages__text"))
    headers = signed_headers(body, settings.FACEBOOK_APP_SECRET)
    headers.pop("Content-Type")
    response = client.post(
        WEBHOOK_URL, data=body, content_type="application/json; charset=utf-8", headers=headers
    )
    assert response.status_code == 200


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_other_methods_are_405(client, method):
    assert getattr(client, method)(WEBHOOK_URL).status_code == 405


def test_odd_query_strings_on_the_handshake_are_403_not_500(client):
    response = client.get(
        WEBHOOK_URL + "?hub.mode=subscribe&hub.mode=subscribe&hub.verify_token=%ff"
    )
    assert response.status_code == 403
