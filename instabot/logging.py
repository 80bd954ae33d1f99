"""Log lines that say what they concern: the account, conversation and message in hand.

Code doing work for one of those wraps it in `log_context(...)`; every line logged inside —
ours, Django's, a library's — carries those fields. In production the lines are JSON (one
object a line, for log collectors); in development, readable text with the fields appended.
"""

import json
import logging
import os
import re
import sys
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

CONTEXT_FIELDS = ("account", "conversation", "mid")

_context: ContextVar[dict | None] = ContextVar("log_context", default=None)


@contextmanager
def log_context(**fields):
    """Add fields (None ones are left out) to every log line until the block ends."""
    current = _context.get() or {}
    token = _context.set({**current, **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


# What each process is called in its log lines: bin/dev mixes the web server's, the worker's
# and the fake Graph API's lines in one terminal.
PROCESS_NAMES = {
    "runserver": "web",
    "gunicorn": "web",
    "worker": "worker",
    "rqworker": "worker",
    "db_worker": "worker",
    "fake_graph_api": "fake",
}


def process_name(argv: list[str] | None = None) -> str:
    """ "web", "worker", "fake", else the management command (or program) this process runs."""
    argv = sys.argv if argv is None else argv
    program = os.path.basename(argv[0]) if argv else ""
    command = argv[1] if program == "manage.py" and len(argv) > 1 else program
    return PROCESS_NAMES.get(command, command or "python")


PROCESS_NAME = process_name()


class ContextFilter(logging.Filter):
    """Puts the current context on each record: record.context (a dict) and its text form,
    and the name of the process that wrote it (record.process_name)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.process_name = PROCESS_NAME
        record.context = dict(_context.get() or {})
        record.context_text = "".join(f" {key}={value}" for key, value in record.context.items())
        return True


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "process": getattr(record, "process_name", PROCESS_NAME),
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "context", {}),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


# The query string of a request line ("GET /path?query HTTP/1.1"): up to the next space.
QUERY_STRING = re.compile(r"\?\S*")


class StripQueryStrings(logging.Filter):
    """Drops the query string from runserver's request lines (django.server): Meta's webhook
    handshake carries the verify token in it (`?hub.verify_token=…`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args and isinstance(record.args[0], str):
            record.args = (QUERY_STRING.sub("", record.args[0]), *record.args[1:])
        return True


class QueueBookkeeping(logging.Filter):
    """Drops the task queues' per-task lines ("Task id=… state=SUCCESSFUL", RQ's "Job OK"):
    a task that ends having scheduled a retry "succeeded" as a task while its send failed. The
    outcome is logged by the work itself ("Sent reply 7 …", "Reply 7: attempt 1 failed …");
    a task that raised is still logged (an ERROR)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        message = record.getMessage()
        return not (message.startswith("Task id=") or "Job OK" in message)
