"""A stand-in for staff's endpoints (outgoing webhooks, flows' external requests), served on
127.0.0.1: each POST gets the next of the answers it was given (the last one again once they
run out), and what it received is recorded (path, headers, body). Tests point an endpoint's
URL at it, which the service calls only with OUTGOING_URLS_ALLOW_LOOPBACK on (tests and
development: instabot/safe_urls.py)."""

import json
from http.server import BaseHTTPRequestHandler

from devtools.fake_http import FakeServer, JsonHandler


class FakeEndpoint(FakeServer):
    def __init__(self, answers: list[tuple[int, object]], host: str = "127.0.0.1", port: int = 0):
        """`answers`: (status, body) in turn; a body of dict or list goes out as JSON."""
        if not answers:
            raise ValueError("a fake endpoint needs at least one answer")
        self.answers = list(answers)
        super().__init__(host, port, _handler_for(self))

    def url(self, path: str = "/hook") -> str:
        return f"{self.address}{path}"

    def _answer(self, request: dict) -> tuple[int, object]:
        with self._lock:
            self.calls.append(request)
            return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def _handler_for(fake: FakeEndpoint) -> type[BaseHTTPRequestHandler]:
    class Handler(JsonHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            request = {"path": self.path, "headers": dict(self.headers), "body": body}
            status, answer = fake._answer(request)
            if isinstance(answer, dict | list):
                self._json(status, answer)
            else:
                self._raw(status, str(answer).encode(), "text/plain")

    return Handler


def json_body(request: dict) -> dict:
    return json.loads(request["body"])
