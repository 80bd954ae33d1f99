"""Meta's subscription handshake: GET /webhooks/instagram?hub.mode=subscribe&..."""

import pytest

pytestmark = pytest.mark.django_db


def handshake(client, path="/webhooks/instagram", **params):
    query = {
        "hub.mode": "subscribe",
        "hub.verify_token": "test-verify-token",
        "hub.challenge": "1158201444",
    }
    query.update(params)
    return client.get(path, {k: v for k, v in query.items() if v is not None})


def test_matching_verify_token_echoes_the_challenge_exactly(client):
    response = handshake(client)
    assert response.status_code == 200
    assert response.content == b"1158201444"
    assert response["Content-Type"].startswith("text/plain")


def test_trailing_slash_is_served_without_a_redirect(client):
    response = handshake(client, path="/webhooks/instagram/")
    assert response.status_code == 200
    assert response.content == b"1158201444"


def test_wrong_verify_token_is_forbidden(client, caplog):
    response = handshake(client, **{"hub.verify_token": "guess"})
    assert response.status_code == 403
    assert "1158201444" not in response.content.decode()
    assert "verification refused" in caplog.text


@pytest.mark.parametrize("mode", ["unsubscribe", "", None])
def test_other_modes_are_forbidden(client, mode):
    assert handshake(client, **{"hub.mode": mode}).status_code == 403


def test_missing_verify_token_is_forbidden(client):
    assert handshake(client, **{"hub.verify_token": None}).status_code == 403


def test_no_configured_verify_token_refuses_everyone(client, settings):
    settings.INSTAGRAM_VERIFY_TOKEN = ""
    assert handshake(client, **{"hub.verify_token": ""}).status_code == 403


def test_other_methods_are_not_allowed(client):
    assert client.put("/webhooks/instagram").status_code == 405
