"""Meta's `signed_request` (deauthorize and data deletion callbacks): `<sig>.<payload>`, both
base64url without padding; `sig` is the HMAC-SHA256 of the payload part, keyed with the app
secret; the payload is JSON `{"algorithm": "HMAC-SHA256", "issued_at": …, "user_id": "…"}`."""

import base64
import binascii
import hashlib
import hmac
import json
import re
from dataclasses import dataclass

_ID = re.compile(r"\A[0-9]{1,64}\Z")
MAX_LENGTH = 8192


class InvalidSignedRequest(Exception):
    """Not provably from Meta, or unreadable; the message says why (safe to log)."""


@dataclass(frozen=True)
class SignedRequest:
    user_id: str  # the app-scoped id of the person who connected
    issued_at: int


def parse(signed_request: str, app_secrets) -> tuple[SignedRequest, str]:
    """The payload, and which of `app_secrets` signed it. Raises InvalidSignedRequest."""
    if not isinstance(signed_request, str) or not signed_request:
        raise InvalidSignedRequest("no signed_request")
    if len(signed_request) > MAX_LENGTH or signed_request.count(".") != 1:
        raise InvalidSignedRequest("signed_request is not <signature>.<payload>")
    encoded_sig, encoded_payload = signed_request.split(".")
    signature = _decode(encoded_sig)
    secret = next(
        (s for s in app_secrets if s and hmac.compare_digest(signature, _sign(encoded_payload, s))),
        None,
    )
    if secret is None:
        raise InvalidSignedRequest("the signature matches none of our app secrets")
    try:
        payload = json.loads(_decode(encoded_payload))
    except (ValueError, UnicodeDecodeError):
        raise InvalidSignedRequest("the payload is not JSON") from None
    if not isinstance(payload, dict) or str(payload.get("algorithm", "")).upper() != "HMAC-SHA256":
        raise InvalidSignedRequest("the payload's algorithm is not HMAC-SHA256")
    user_id, issued_at = payload.get("user_id"), payload.get("issued_at", 0)
    user_id = (
        str(user_id) if isinstance(user_id, int | str) and not isinstance(user_id, bool) else ""
    )
    if not _ID.match(user_id):
        raise InvalidSignedRequest("the payload has no readable user_id")
    if isinstance(issued_at, bool) or not isinstance(issued_at, int) or not 0 <= issued_at < 2**40:
        raise InvalidSignedRequest("the payload's issued_at is not a time")
    return SignedRequest(user_id, issued_at), secret


def sign(payload: dict, app_secret: str) -> str:
    """What Meta would send for `payload` (the fake and the tests)."""
    encoded = _encode(json.dumps(payload).encode())
    return f"{_encode(_sign(encoded, app_secret))}.{encoded}"


def _sign(encoded_payload: str, secret: str) -> bytes:
    return hmac.new(secret.encode(), encoded_payload.encode(), hashlib.sha256).digest()


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _decode(part: str) -> bytes:
    if not part or not re.fullmatch(r"[A-Za-z0-9_-]+", part):
        raise InvalidSignedRequest("signed_request is not base64url")
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        raise InvalidSignedRequest("signed_request is not base64url") from None
