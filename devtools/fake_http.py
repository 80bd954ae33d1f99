"""What the fake services' request handlers share: JSON in and out over kept-alive HTTP/1.1."""

import json
import logging
from http.server import BaseHTTPRequestHandler

logger = logging.getLogger(__name__)


class JsonHandler(BaseHTTPRequestHandler):
    # Keep-alive, as the real services do: our clients keep their connections between calls.
    # Headers and body go out in two writes: without TCP_NODELAY, Nagle's algorithm holds the
    # body back for the client's delayed ACK (40 ms) on a kept-alive connection.
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format, *args):
        logger.debug(f"{type(self).__module__}: " + format, *args)

    def _read_json(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            data = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    def _json(self, status: int, data) -> None:
        self._raw(status, json.dumps(data).encode(), "application/json")

    def _raw(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (its timeout)
