"""Where the service may POST on staff's say-so (outgoing webhooks, flows' external
requests): https (http only in development), and never a private, loopback, link-local or
otherwise non-public address (SSRF), every address the host resolves to checked, when saved
and again at each call; and the address connected to is checked again as the connection is
made (post(): requests-hardened resolves once, refuses a non-public address and connects to
the address it checked, with the host's name in the Host header, TLS's SNI and the
certificate's check), so a name that answers a public address to the check and a private one
to the connection (DNS rebinding) is refused.

Tests and development may let loopback addresses through (OUTGOING_URLS_ALLOW_LOOPBACK, which
the settings refuse unless DEVTOOLS is on): never private ranges, never in production."""

import ipaddress
import json
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
import urllib3
from django.conf import settings
from django.core.exceptions import ValidationError
from requests_hardened import Config, Manager
from requests_hardened.ip_filter import InvalidIPAddress


class RefusedAddress(Exception):
    """The address the connection was about to use is not public: nothing was sent."""


# How much of an answer is read, at most: what the callers keep is less (an endpoint's last
# answer, its first 1,000 characters; an external request's JSON, 100,000 bytes), and one
# byte more tells them it was longer.
ANSWER_READ_MAX = 100_001


@dataclass(frozen=True)
class Answer:
    """The endpoint's answer: its status, and its body up to ANSWER_READ_MAX bytes."""

    status_code: int
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self):
        return json.loads(self.content)


def resolve(host: str, port: int) -> list[str]:
    """The host's addresses (tests replace this: no DNS here)."""
    return [info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


def loopback_allowed() -> bool:
    """Loopback addresses are let through for tests and development only: the setting
    exists only with DEVTOOLS (instabot/settings.py refuses it otherwise), checked again."""
    return settings.OUTGOING_URLS_ALLOW_LOOPBACK and "devtools" in settings.INSTALLED_APPS


def check_url(url: str, allowed_hosts: frozenset[str] | None = None) -> str:
    """`url`, if the service may call it (`allowed_hosts`: and its host is one of them);
    ValidationError says why not."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ValidationError("Not a URL.") from None
    development = settings.DEBUG or "devtools" in settings.INSTALLED_APPS
    if parts.scheme != "https" and not (development and parts.scheme == "http"):
        raise ValidationError("The URL must start with https://.")
    if not parts.hostname:
        raise ValidationError("The URL needs a host.")
    if parts.username or parts.password:
        raise ValidationError("Put no user or password in the URL: deliveries are signed.")
    host = parts.hostname
    if allowed_hosts is not None and host not in allowed_hosts:
        raise ValidationError(
            f"{host} is not among the hosts allowed (EXTERNAL_REQUEST_ALLOWED_HOSTS)."
        )
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            addresses = [ipaddress.ip_address(a.split("%")[0]) for a in resolve(host, port)]
        except (OSError, UnicodeError, ValueError):
            raise ValidationError(f"{host} could not be resolved.") from None
    if not addresses:
        raise ValidationError(f"{host} could not be resolved.")
    for address in addresses:
        if address.is_loopback and loopback_allowed():
            continue
        if not address.is_global or address.is_multicast:
            raise ValidationError(
                f"{host} is a private, loopback or link-local address ({address}): "
                "only public addresses are called."
            )
    return url


def post(url: str, *, data: bytes, headers: dict, timeout: float) -> Answer:
    """POST to a URL that check_url accepted, redirects not followed. The address is checked
    again as the connection is made, and that address is the one connected to: RefusedAddress
    if it is not public. requests' own exceptions otherwise (no answer, a timeout; also an
    answer still coming after twice `timeout`: each read's timeout alone would let an endpoint
    that trickles its answer hold a worker's thread, and its stop, for as long as it likes)."""
    deadline = time.monotonic() + 2 * timeout
    hardened = Manager(
        Config(
            ip_filter_enable=True,
            ip_filter_allow_loopback_ips=loopback_allowed(),
            never_redirect=True,
            default_timeout=(timeout, timeout),
        )
    )
    try:
        with hardened.get_session() as session:
            sent = session.post(url, data=data, headers=headers, timeout=timeout, stream=True)
            with sent as response:
                return Answer(response.status_code, _body(response, deadline, timeout))
    except InvalidIPAddress as exc:
        raise RefusedAddress(
            f"{urlsplit(url).hostname} resolved to a private, loopback or link-local "
            f"address when connecting ({exc}): only public addresses are called."
        ) from None


def _body(response: requests.Response, deadline: float, timeout: float) -> bytes:
    """The answer's body, up to ANSWER_READ_MAX bytes (a huge answer is cut, not held in the
    worker's memory), read until the deadline. read1 gives what has come so far (read and
    iter_content wait for a whole chunk, which a byte at a time never fills)."""
    body = bytearray()
    try:
        while chunk := response.raw.read1(8192, decode_content=True):
            body += chunk
            if len(body) >= ANSWER_READ_MAX:
                break
            if time.monotonic() > deadline:
                raise requests.Timeout(f"the answer was still coming after {2 * timeout:g} s")
    except urllib3.exceptions.HTTPError as exc:  # what requests would have raised for it
        raise requests.ConnectionError(f"the answer broke off: {exc}") from None
    return bytes(body[:ANSWER_READ_MAX])
