"""meta.graph: the one door to Meta, and how it names failures."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import requests
import responses

from messaging.tests.conftest import answer_send, send_api_url
from meta import graph

TOKEN = "EAAG-secret-page-token-123"


@pytest.fixture
def client(settings):
    return graph.InstagramClient(
        TOKEN,
        base_url=settings.GRAPH_API_BASE_URL,
        api_version=settings.GRAPH_API_VERSION,
        timeout=3,
    )


def test_send_posts_recipient_and_text_with_the_token_in_a_header(client, graph_api):
    answer_send(graph_api, message_id="aWdfZAG1abc")
    sent = client.send_message("1234567890123456", "Hi 👋")
    assert sent == graph_sent("aWdfZAG1abc")
    request = graph_api.calls[0].request
    assert request.url == send_api_url()  # no token in the URL
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert json.loads(request.body) == {
        "recipient": {"id": "1234567890123456"},
        "message": {"text": "Hi 👋"},
    }


def graph_sent(message_id):
    return graph.SentMessage(recipient_id="1234567890123456", message_id=message_id)


@pytest.mark.parametrize(
    "status, error, kind",
    [
        (
            500,
            {"message": "Unexpected", "code": 2, "is_transient": True},
            graph.TransientGraphAPIError,
        ),
        (400, {"message": "Temporary", "code": 1}, graph.TransientGraphAPIError),
        (400, {"message": "App limit", "code": 4}, graph.RateLimitedError),
        (400, {"message": "User limit", "code": 17}, graph.RateLimitedError),
        (400, {"message": "Page limit", "code": 32}, graph.RateLimitedError),
        (400, {"message": "Rate limit", "code": 613}, graph.RateLimitedError),
        (
            400,
            {"message": "Something", "code": 9999, "is_transient": True},
            graph.TransientGraphAPIError,
        ),
        (503, {"message": "Unknown", "code": 9999}, graph.TransientGraphAPIError),
        (
            400,
            {"message": "Outside window", "code": 10, "error_subcode": 2534022},
            graph.PermanentGraphAPIError,
        ),
        (400, {"message": "Unavailable", "code": 551}, graph.PermanentGraphAPIError),
        (400, {"message": "Invalid parameter", "code": 100}, graph.PermanentGraphAPIError),
        (400, {"message": "Unknown", "code": 9999}, graph.PermanentGraphAPIError),
        (
            401,
            {"message": "Session has expired", "code": 190, "error_subcode": 463},
            graph.InvalidTokenError,
        ),
    ],
)
def test_graph_errors_are_classified(client, graph_api, status, error, kind):
    answer_send(graph_api, status=status, error=error)
    with pytest.raises(kind) as raised:
        client.send_message("1", "hi")
    assert type(raised.value) is kind
    assert error["message"] in str(raised.value)
    assert str(error["code"]) in str(raised.value)


def test_invalid_token_is_a_permanent_error(client, graph_api):
    answer_send(graph_api, status=401, error={"message": "Expired", "code": 190})
    with pytest.raises(graph.PermanentGraphAPIError):
        client.send_message("1", "hi")


def test_error_reason_never_contains_the_token(client, graph_api):
    answer_send(
        graph_api,
        status=400,
        error={"message": f"Bad token {TOKEN} given", "code": 190, "fbtrace_id": "AbC"},
    )
    with pytest.raises(graph.InvalidTokenError) as raised:
        client.send_message("1", "hi")
    assert TOKEN not in str(raised.value)
    assert "[token]" in str(raised.value)
    assert "fbtrace_id AbC" in str(raised.value)


def test_non_json_5xx_is_transient(client, graph_api):
    graph_api.add(responses.POST, send_api_url(), body="<html>Bad gateway</html>", status=502)
    with pytest.raises(graph.TransientGraphAPIError, match="HTTP 502"):
        client.send_message("1", "hi")


@pytest.mark.parametrize(
    "exception",
    [
        requests.ConnectionError("refused"),
        requests.ConnectTimeout("slow"),
        requests.ReadTimeout("slow"),
    ],
)
def test_network_failures_are_transient_and_name_no_url(client, graph_api, exception):
    graph_api.add(responses.POST, send_api_url(), body=exception)
    with pytest.raises(graph.TransientGraphAPIError) as raised:
        client.send_message("1", "hi")
    assert "graph.facebook.com" not in str(raised.value)


def test_success_without_a_message_id_is_permanent_so_we_never_send_twice(client, graph_api):
    graph_api.add(responses.POST, send_api_url(), json={"recipient_id": "1"}, status=200)
    with pytest.raises(graph.PermanentGraphAPIError, match="without a message_id"):
        client.send_message("1", "hi")


def test_a_message_id_no_message_can_store_is_permanent_so_we_never_send_twice(client, graph_api):
    answer = {"recipient_id": "1", "message_id": "m" * (graph.MID_LENGTH + 1)}
    graph_api.add(responses.POST, send_api_url(), json=answer, status=200)
    with pytest.raises(graph.PermanentGraphAPIError, match="over 255 characters"):
        client.send_message("1", "hi")


def test_no_configured_token_fails_as_a_credentials_problem(settings, graph_api):
    client = graph_client_without_token(settings)
    with pytest.raises(graph.InvalidTokenError, match="no access token"):
        client.send_message("1", "hi")
    assert len(graph_api.calls) == 0


def graph_client_without_token(settings):
    return graph.InstagramClient(
        "", base_url=settings.GRAPH_API_BASE_URL, api_version=settings.GRAPH_API_VERSION, timeout=3
    )


def test_the_shared_client_follows_settings(settings):
    first = graph.client_for(None)
    assert graph.client_for(None) is first  # one session: connections are reused
    settings.INSTAGRAM_PAGE_ACCESS_TOKEN = "another"
    assert graph.client_for(None) is not first


@pytest.mark.parametrize(
    "text, expected_parts",
    [
        ("short", ["short"]),
        ("a" * 1000, ["a" * 1000]),
        ("a" * 1001, ["a" * 1000, "a"]),
    ],
)
def test_split_text_by_bytes(text, expected_parts):
    assert graph.split_text(text) == expected_parts


def test_split_text_never_cuts_inside_a_character():
    text = "é" * 700 + "👍" * 300  # 2-byte and 4-byte characters
    parts = graph.split_text(text)
    assert "".join(parts) == text
    assert all(len(p.encode()) <= 1000 for p in parts)
    for part in parts:
        part.encode().decode()  # each part is valid UTF-8 on its own


def test_split_text_prefers_whitespace():
    words = " ".join(["word"] * 400)  # 1999 bytes
    parts = graph.split_text(words)
    assert all(len(p.encode()) <= 1000 for p in parts)
    assert all(not p.startswith(" ") and not p.endswith(" ") for p in parts)
    assert " ".join(parts).split(" ") == ["word"] * 400


def test_calls_go_through_the_proxy_the_environment_names(monkeypatch):
    """Proxy settings are read once, when the client is made, not on every call."""
    seen = []

    class Proxy(BaseHTTPRequestHandler):
        def do_POST(self):
            seen.append(self.path)  # a proxy is asked for the whole URL
            self.rfile.read(int(self.headers["Content-Length"]))
            body = b'{"recipient_id": "1234567890123456", "message_id": "aWdfZAG1proxied"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    proxy = HTTPServer(("127.0.0.1", 0), Proxy)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.server_address[1]}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        client = graph.InstagramClient(
            TOKEN, base_url="http://graph.example.invalid", api_version="v21.0", timeout=3
        )
        monkeypatch.delenv("HTTP_PROXY")  # read when the client was made
        assert client.send_message("1234567890123456", "Hi").message_id == "aWdfZAG1proxied"
    finally:
        proxy.shutdown()
        proxy.server_close()
    assert seen == ["http://graph.example.invalid/v21.0/me/messages"]
