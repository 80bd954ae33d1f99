"""Outgoing calls on staff's say-so (webhooks, external requests) reach public addresses only,
and the address connected to is the one checked: a name that answers a public address to the
check and a private one to the connection (DNS rebinding) is refused before any connection.
Loopback is let through for tests only (OUTGOING_URLS_ALLOW_LOOPBACK, with DEVTOOLS)."""

import socket
import threading
import time

import pytest
import requests
import urllib3.util.connection
from django.core.exceptions import ValidationError

from devtools.fake_endpoint import FakeEndpoint
from instabot import safe_urls

PUBLIC, PRIVATE = "93.184.215.14", "10.0.0.9"


@pytest.fixture
def dns(monkeypatch):
    """answers[name]: the addresses the name resolves to, one list per lookup in turn (the
    last again once they run out). Every lookup is counted."""
    answers, lookups = {}, []
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in answers:
            return real(host, port, *args, **kwargs)
        lookups.append(host)
        turns = answers[host]
        address = turns.pop(0) if len(turns) > 1 else turns[0]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port or 443))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers, lookups


@pytest.fixture
def no_connection(monkeypatch):
    """Fails the test if anything connects anywhere."""

    def connect(address, *args, **kwargs):
        raise AssertionError(f"connected to {address}")

    monkeypatch.setattr(urllib3.util.connection, "create_connection", connect)


def post(url):
    return safe_urls.post(url, data=b"{}", headers={}, timeout=2)


def test_a_name_that_resolves_to_a_private_address_is_refused(dns, no_connection):
    answers, _ = dns
    answers["inside.example"] = [PRIVATE]
    with pytest.raises(ValidationError, match="private, loopback or link-local"):
        safe_urls.check_url("https://inside.example/hook")
    with pytest.raises(safe_urls.RefusedAddress, match=r"inside\.example resolved to a private"):
        post("https://inside.example/hook")


def test_a_name_that_answers_public_then_private_is_refused_at_connection(dns, no_connection):
    answers, lookups = dns
    answers["rebinding.example"] = [PUBLIC, PRIVATE]

    safe_urls.check_url("https://rebinding.example/hook")  # public: accepted
    with pytest.raises(safe_urls.RefusedAddress, match=r"10\.0\.0\.9"):
        post("https://rebinding.example/hook")  # private by now: refused, never connected

    assert lookups == ["rebinding.example", "rebinding.example"]


def test_the_address_connected_to_is_the_one_checked_under_the_hosts_name(dns, settings):
    settings.OUTGOING_URLS_ALLOW_LOOPBACK = True
    endpoint = FakeEndpoint([(200, {"ok": True})]).start()
    try:
        answers, lookups = dns
        answers["hooks.test"] = ["127.0.0.1", PRIVATE]  # a second lookup would be refused
        port = endpoint.url().rsplit(":", 1)[1].split("/")[0]

        answer = post(f"http://hooks.test:{port}/hook")

        assert answer.status_code == 200 and answer.json() == {"ok": True}
        assert lookups == ["hooks.test"]  # resolved once, connected to what was checked
        assert endpoint.calls[0]["headers"]["Host"] == f"hooks.test:{port}"
    finally:
        endpoint.stop()


def test_loopback_is_refused_unless_the_test_allowance_is_on(settings, dns, no_connection):
    settings.OUTGOING_URLS_ALLOW_LOOPBACK = False
    answers, _ = dns
    answers["hooks.test"] = ["127.0.0.1"]
    with pytest.raises(ValidationError):
        safe_urls.check_url("http://127.0.0.1:8080/hook")
    with pytest.raises(safe_urls.RefusedAddress):
        post("http://hooks.test:8080/hook")


def test_the_allowance_lets_loopback_through_and_never_a_private_range(settings):
    settings.OUTGOING_URLS_ALLOW_LOOPBACK = True
    assert safe_urls.check_url("http://127.0.0.1:8080/hook")
    assert safe_urls.check_url("http://[::1]:8080/hook")
    for url in ["http://10.1.2.3/x", "http://169.254.169.254/latest", "http://192.168.1.1/x"]:
        with pytest.raises(ValidationError):
            safe_urls.check_url(url)


def test_the_allowance_does_nothing_without_devtools(settings):
    settings.OUTGOING_URLS_ALLOW_LOOPBACK = True
    settings.INSTALLED_APPS = [app for app in settings.INSTALLED_APPS if app != "devtools"]
    settings.DEBUG = True  # http:// allowed, loopback still not
    with pytest.raises(ValidationError):
        safe_urls.check_url("http://127.0.0.1:8080/hook")


class RawEndpoint:
    """A server on 127.0.0.1 that answers every connection with `write(connection)`."""

    def __init__(self, write):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.write = write
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        self.server.settimeout(0.1)
        while not self.stopping.is_set():
            try:
                connection, _ = self.server.accept()
            except TimeoutError:
                continue
            with connection:
                connection.recv(65536)  # the request (small: headers and "{}")
                try:
                    self.write(connection, self.stopping)
                except OSError:
                    pass  # the client gave up: as it should

    def stop(self):
        self.stopping.set()
        self.thread.join()
        self.server.close()


HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n"


def test_an_answer_that_trickles_in_is_given_up_after_twice_the_timeout(settings):
    settings.OUTGOING_URLS_ALLOW_LOOPBACK = True

    def trickle(connection, stopping):
        connection.sendall(HEAD + b"\r\n")
        while not stopping.is_set():  # a byte every 0.2 s: no read ever times out
            connection.sendall(b".")
            stopping.wait(0.2)

    endpoint = RawEndpoint(trickle)
    try:
        started = time.monotonic()
        with pytest.raises(requests.Timeout, match="still coming after 2 s"):
            safe_urls.post(
                f"http://127.0.0.1:{endpoint.port}/hook", data=b"{}", headers={}, timeout=1
            )
        assert time.monotonic() - started < 5
    finally:
        endpoint.stop()


def test_a_huge_answer_is_cut_where_the_callers_stop_reading(settings):
    settings.OUTGOING_URLS_ALLOW_LOOPBACK = True
    size = 50 * safe_urls.ANSWER_READ_MAX

    def huge(connection, stopping):
        connection.sendall(HEAD + f"Content-Length: {size}\r\n\r\n".encode())
        for _ in range(size // 65536 + 1):
            connection.sendall(b"x" * 65536)

    endpoint = RawEndpoint(huge)
    try:
        answer = post(f"http://127.0.0.1:{endpoint.port}/hook")
        assert answer.status_code == 200
        assert len(answer.content) == safe_urls.ANSWER_READ_MAX
        assert answer.text.startswith("xxx")
    finally:
        endpoint.stop()


def test_a_chunked_answer_is_read_whole(settings):
    settings.OUTGOING_URLS_ALLOW_LOOPBACK = True

    def chunked(connection, stopping):
        connection.sendall(HEAD + b"Transfer-Encoding: chunked\r\n\r\n")
        for part in (b'{"city": ', b'"Paris"}'):
            connection.sendall(b"%x\r\n%s\r\n" % (len(part), part))
            stopping.wait(0.05)
        connection.sendall(b"0\r\n\r\n")

    endpoint = RawEndpoint(chunked)
    try:
        assert post(f"http://127.0.0.1:{endpoint.port}/hook").json() == {"city": "Paris"}
    finally:
        endpoint.stop()
