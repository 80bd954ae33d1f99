"""What the fake services share: a threaded server on 127.0.0.1, run in the foreground
(`manage.py fake_…`) or from a background thread (tests), and request handlers speaking JSON
over kept-alive HTTP/1.1."""

import json
import logging
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

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


class FakeServer:
    """A fake service's server; `handler` answers its requests. It records the calls it
    answered (`calls`) and fails the next ones as told (`fail_next`: one of FAILURE_KINDS)."""

    FAILURE_KINDS: frozenset[str] = frozenset()
    FAILURE_SECONDS = 15.0  # how long a slow failure takes, unless told

    def __init__(self, host: str, port: int, handler: type[BaseHTTPRequestHandler]):
        self.calls: list[dict] = []
        self._failures: deque[dict] = deque()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True

    def fail_next(self, kind: str, times: int = 1, seconds: float | None = None) -> None:
        if kind not in self.FAILURE_KINDS:
            raise ValueError(f"unknown failure kind {kind!r}")
        seconds = self.FAILURE_SECONDS if seconds is None else seconds
        with self._lock:
            self._failures.extend({"kind": kind, "seconds": seconds} for _ in range(times))

    def reset(self) -> None:
        """Forget the calls and the planned failures."""
        with self._lock:
            self.calls.clear()
            self._failures.clear()

    def _next_failure(self) -> dict | None:
        with self._lock:
            return self._failures.popleft() if self._failures else None

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def start(self):
        """Serve from a background thread (for tests)."""
        # stop() waits for the serving loop to look up (every poll_interval: 0.5 s by
        # default); a test starts and stops a fake hundreds of times in a run.
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
