"""Meta's webhook signature: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`."""

import hashlib
import hmac

SIGNATURE_HEADER = "X-Hub-Signature-256"
_PREFIX = "sha256="


class InvalidSignature(Exception):
    """The delivery is not provably from Meta; the message says why (safe to log)."""


def sign(body: bytes, app_secret: str) -> str:
    """The header value Meta would send for `body`; also used by simulate_dm and the tests."""
    digest = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return _PREFIX + digest


def verify(body: bytes, header: str | None, app_secret: str) -> None:
    """Raise InvalidSignature unless `header` is the signature of the exact bytes received.

    The bytes are hashed as received: Meta escapes Unicode in the body, so any re-serialised
    JSON would not match.
    """
    if not app_secret:
        raise InvalidSignature("no app secret is configured, so no signature can be checked")
    if not header:
        raise InvalidSignature(f"the {SIGNATURE_HEADER} header is missing")
    if "," in header:
        # Repeated headers reach us joined by commas: refuse to pick one.
        raise InvalidSignature(f"the {SIGNATURE_HEADER} header was sent more than once")
    scheme, _, provided = header.strip().partition("=")
    if scheme.lower() != "sha256" or not provided:
        raise InvalidSignature(f"the {SIGNATURE_HEADER} header is not of the form sha256=<hex>")
    expected = sign(body, app_secret).removeprefix(_PREFIX)
    # Hex is case-insensitive; compare_digest keeps the comparison constant-time.
    if not hmac.compare_digest(expected.encode(), provided.lower().encode()):
        raise InvalidSignature("the signature does not match the body")


def secret_that_signed(body: bytes, header: str | None, candidates) -> str | None:
    """Which of `candidates` signed `body` (to re-process a stored delivery), or None."""
    for secret in candidates:
        try:
            verify(body, header, secret)
        except InvalidSignature:
            continue
        return secret
    return None
