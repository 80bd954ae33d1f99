"""A Content-Type charset that is no text encoding gets a 400 before Django reads the request."""

import io
from wsgiref.util import setup_testing_defaults

import pytest
from django.conf import settings
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from devtools.simulation import signed_headers
from instabot.wsgi import application
from messaging.models import WebhookDelivery
from messaging.tests.conftest import encode, load_payload

pytestmark = pytest.mark.django_db

NOT_TEXT = ["rot13", "base64", "hex", "zlib", "uu", "quopri", "bz2", "punycode", "no-such-codec"]


@pytest.fixture(autouse=True)
def keep_the_test_database_open():
    """As Django's test client does: the handler must not close the test's connection."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def call(path: str, query: str, content_type: str, method="GET", body=b"", headers=None) -> str:
    """The status line instabot.wsgi.application answers with, as a WSGI server calls it."""
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_HOST": "localhost",
        "wsgi.input": io.BytesIO(body),
    }
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    setup_testing_defaults(environ)
    statuses = []
    b"".join(application(environ, lambda status, headers, exc_info=None: statuses.append(status)))
    return statuses[0]


@pytest.mark.parametrize("charset", NOT_TEXT)
def test_a_query_with_a_charset_that_is_no_text_encoding_is_400(charset, caplog):
    assert call("/ping", "x=1", f"text/plain; charset={charset}") == "400 Bad Request"
    assert "is not a text encoding" in caplog.text


@pytest.mark.parametrize("charset", ["utf-8", "UTF-8", "latin-1", '"utf-8"'])
def test_a_query_with_a_text_charset_is_answered(charset):
    assert call("/ping", "x=1", f"text/plain; charset={charset}") == "200 OK"


def signed_delivery(charset: str) -> str:
    body = encode(load_payload("messages__text"))
    headers = signed_headers(body, settings.FACEBOOK_APP_SECRET)
    content_type = headers.pop("Content-Type") + f"; charset={charset}"
    return call("/webhooks/instagram", "x=1", content_type, "POST", body, headers)


def test_a_signed_delivery_with_a_rot13_charset_is_400_and_nothing_is_kept():
    assert signed_delivery("rot13") == "400 Bad Request"
    assert not WebhookDelivery.objects.exists()


def test_a_signed_delivery_with_a_utf8_charset_is_accepted():
    assert signed_delivery("utf-8") == "200 OK"
    assert WebhookDelivery.objects.count() == 1
