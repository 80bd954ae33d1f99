"""WSGI entry point (gunicorn instabot.wsgi; runserver through WSGI_APPLICATION)."""

import logging
import os

from django.core.wsgi import get_wsgi_application
from django.utils.http import parse_header_parameters

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "instabot.settings")

logger = logging.getLogger(__name__)

# Printable ASCII: what a query string and a form body are made of.
ASCII_SAMPLE = bytes(range(0x20, 0x7F))


def reads_ascii_as_ascii(charset: str) -> bool:
    """Whether `charset` is a text encoding that reads ASCII as ASCII (utf-8, latin-1, cp1252,
    shift_jis, ...); not rot13, base64, zlib (bytes-to-bytes codecs), punycode, utf-16, or an
    unknown name."""
    try:
        return ASCII_SAMPLE.decode(charset) == ASCII_SAMPLE.decode("ascii")
    except (LookupError, UnicodeError):
        return False


class RefuseUnreadableCharset:
    """Answer 400 to a request whose Content-Type names a charset that cannot read ASCII.

    Django's WSGIRequest decodes the query string with that charset before any Django
    middleware runs (a bytes-to-bytes codec such as rot13 raises there: a 500).
    """

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        # Parsed as Django parses it.
        _, params = parse_header_parameters(environ.get("CONTENT_TYPE", ""))
        charset = params.get("charset")
        if charset is not None and not reads_ascii_as_ascii(charset):
            logger.warning(
                "Refused %s %s: Content-Type charset %r is not a text encoding",
                environ.get("REQUEST_METHOD", ""),
                environ.get("PATH_INFO", ""),
                charset[:64],
            )
            start_response("400 Bad Request", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"Bad Content-Type: its charset is not a text encoding."]
        return self.app(environ, start_response)


application = RefuseUnreadableCharset(get_wsgi_application())
