"""Where the service may POST on staff's say-so (outgoing webhooks, flows' external
requests): https (http only in development), and never a private, loopback, link-local or
otherwise non-public address (SSRF), every address the host resolves to checked, when saved
and again at each call."""

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError


def resolve(host: str, port: int) -> list[str]:
    """The host's addresses (tests replace this: no DNS here)."""
    return [info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


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
        if not address.is_global or address.is_multicast:
            raise ValidationError(
                f"{host} is a private, loopback or link-local address ({address}): "
                "only public addresses are called."
            )
    return url
