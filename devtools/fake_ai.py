"""
A small stand-in for an OpenAI-compatible chat service (OpenAI, Ollama, vLLM, llama.cpp's
server), served on 127.0.0.1, for `bin/dev` and the end-to-end tests of knowledge's assistant.

`POST /v1/chat/completions` answers as those services do (`choices[0].message.content`,
`usage`), deterministically: from the knowledge entries in the system message, the one sharing
the most words with the customer's last message, its answer and `SOURCES: <n>`; none shares a
word: `CANNOT_ANSWER`. A missing key is refused with OpenAI's 401, a malformed body with its 400.

Control endpoints (JSON):
  POST /_fake/fail  {"kind": one of FAILURES, "times": 1, "seconds": 5}
      slow: answer after `seconds`; error: 500; rate_limit: 429; garbage: an HTML page;
      beyond: an answer with a price and a link in none of the entries; cannot: CANNOT_ANSWER
  GET  /_fake/calls  every chat request received so far (its JSON body)
  POST /_fake/reset  forget calls and planned failures
"""

import logging
import re
import time

from devtools.fake_http import FakeServer, JsonHandler

logger = logging.getLogger(__name__)

FAILURES = frozenset({"slow", "error", "rate_limit", "garbage", "beyond", "cannot"})
_ENTRY = re.compile(r"^\[(\d+)\] (.*)$", re.MULTILINE)
_WORD = re.compile(r"\w{3,}")


def _error(status: int, message: str, kind: str, code: str | None = None) -> tuple[int, dict]:
    return status, {"error": {"message": message, "type": kind, "param": None, "code": code}}


class FakeAIService(FakeServer):
    FAILURE_KINDS = FAILURES
    FAILURE_SECONDS = 5.0

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        super().__init__(host, port, _handler_for(self))

    @property
    def base_url(self) -> str:
        return f"{self.address}/v1"

    def answer(self, body: dict, failure: dict | None) -> tuple[int, dict]:
        messages = body.get("messages")
        if (
            not isinstance(body.get("model"), str)
            or not isinstance(messages, list)
            or not all(isinstance(m, dict) and isinstance(m.get("content"), str) for m in messages)
        ):
            return _error(400, "'messages' and 'model' are required.", "invalid_request_error")
        with self._lock:
            self.calls.append(body)
        system = next((m["content"] for m in messages if m.get("role") == "system"), "")
        question = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
        kind = failure["kind"] if failure else ""
        if kind == "error":
            return _error(500, "The server had an error processing your request.", "server_error")
        if kind == "rate_limit":
            return _error(429, "Rate limit reached.", "requests", "rate_limit_exceeded")
        text = "CANNOT_ANSWER" if kind == "cannot" else _grounded_answer(system, question)
        if kind == "beyond" and text != "CANNOT_ANSWER":
            text = "Today only: 1.99 € at https://deals.example.net/flash\nSOURCES: 1"
        prompt_tokens = sum(len(m["content"]) for m in messages) // 4
        return 200, {
            "id": f"chatcmpl-fake-{len(self.calls)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": len(text) // 4,
                "total_tokens": prompt_tokens + len(text) // 4,
            },
        }


def _grounded_answer(system: str, question: str) -> str:
    """The answer of the given entry sharing the most words with the question."""
    words = {w.lower() for w in _WORD.findall(question)}
    best, best_overlap = None, 0
    starts = list(_ENTRY.finditer(system))
    for index, start in enumerate(starts):
        end = starts[index + 1].start() if index + 1 < len(starts) else len(system)
        block = system[start.start() : end]
        overlap = len(words & {w.lower() for w in _WORD.findall(block)})
        if overlap > best_overlap:
            answer = re.search(r"^Answer: (.*)$", block, re.MULTILINE)
            best, best_overlap = (start.group(1), answer.group(1) if answer else ""), overlap
    if best is None:
        return "CANNOT_ANSWER"
    number, answer = best
    return f"{answer}\nSOURCES: {number}"


def _handler_for(fake: FakeAIService):
    class Handler(JsonHandler):
        def do_GET(self):
            if self.path == "/_fake/calls":
                with fake._lock:
                    return self._json(200, list(fake.calls))
            return self._json(*_error(404, "Not found.", "invalid_request_error"))

        def do_POST(self):
            body = self._read_json()
            if self.path == "/_fake/fail":
                try:
                    fake.fail_next(
                        str(body.get("kind")),
                        int(body.get("times", 1)),
                        float(body.get("seconds", 5.0)),
                    )
                except (TypeError, ValueError) as exc:
                    return self._json(400, {"error": str(exc)})
                return self._json(200, {"ok": True})
            if self.path == "/_fake/reset":
                fake.reset()
                return self._json(200, {"ok": True})
            if not self.path.endswith("/chat/completions"):
                return self._json(*_error(404, "Not found.", "invalid_request_error"))
            if not self.headers.get("Authorization", "").startswith("Bearer "):
                return self._json(
                    *_error(
                        401,
                        "You didn't provide an API key.",
                        "invalid_request_error",
                        "invalid_api_key",
                    )
                )
            failure = fake._next_failure()
            if failure and failure["kind"] == "slow":
                time.sleep(failure["seconds"])
            if failure and failure["kind"] == "garbage":
                return self._raw(200, b"<html><body>502 Bad Gateway</body></html>", "text/html")
            return self._json(*fake.answer(body, failure))

    return Handler
