"""Request lines in the logs never carry a query string: Meta's webhook handshake holds the
verify token in it (`GET /webhooks/instagram?hub.verify_token=…`)."""

import re
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

from django.core.servers.basehttp import WSGIRequestHandler
from gunicorn.config import Config
from gunicorn.glogging import Logger

HANDSHAKE = "/webhooks/instagram?hub.mode=subscribe&hub.verify_token=s3cret-token&hub.challenge=42"
SERVE = Path(__file__).resolve().parents[2] / "bin" / "serve"


def test_runservers_request_line_of_a_refused_handshake_has_no_query_string(caplog):
    # As runserver logs a request it answered 403 (a wrong verify token): a WARNING.
    handler = SimpleNamespace(request=None, log_date_time_string=lambda: "now")
    WSGIRequestHandler.log_message(handler, '"%s" %s %s', f"GET {HANDSHAKE} HTTP/1.1", "403", "9")

    (record,) = [r for r in caplog.records if r.name == "django.server"]
    assert record.getMessage() == '"GET /webhooks/instagram HTTP/1.1" 403 9'
    assert "s3cret-token" not in caplog.text


def serve_access_log_format() -> str:
    return re.search(r"^ACCESS_LOG_FORMAT='(.*)'$", SERVE.read_text(), re.MULTILINE).group(1)


def test_bin_serve_gives_gunicorn_an_access_log_format_without_the_query_string():
    access_log_format = serve_access_log_format()
    assert '--access-logformat "$ACCESS_LOG_FORMAT"' in SERVE.read_text()
    assert "%(r)s" not in access_log_format
    assert "%(q)s" not in access_log_format

    cfg = Config()
    cfg.set("accesslog", "-")
    cfg.set("access_log_format", access_log_format)
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": HANDSHAKE,
        "PATH_INFO": "/webhooks/instagram",
        "QUERY_STRING": HANDSHAKE.split("?", 1)[1],
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "203.0.113.5",
        "HTTP_USER_AGENT": "facebookexternalua",
    }
    response = SimpleNamespace(status="200 OK", sent=2, headers=[])
    atoms = Logger(cfg).atoms(response, [], environ, timedelta(milliseconds=3))
    line = access_log_format % atoms

    assert '"GET /webhooks/instagram HTTP/1.1" 200 2' in line
    assert "facebookexternalua" in line
    assert "s3cret-token" not in line
