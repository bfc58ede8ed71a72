"""WalletRest message signatures: HMAC-SHA256 with the shared secret, pure functions, no I/O.

Requests sign `<timestamp>.<METHOD>.<path>.<raw body>`; answers sign
`<timestamp>.<status code>.<raw body>`, each with its own `X-Timestamp` (unix seconds); the
partner's notifications (requests it sends to an order's `notify_url`) sign
`<timestamp>.<raw body>`, so that neither the path they reach us under (proxies) nor anything
but the body matters, and so that no request or answer of ours (whose content goes on with a
method or status before the JSON) can pass for one. The
`X-Signature` header is `v1=<hex>`; during a secret rotation it may carry several comma-separated
`v1=` values, and one match is enough (Stripe's scheme). The content is built from bytes, so the
raw body is signed exactly as it travels; comparisons are constant-time.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from datetime import datetime

__all__ = [
    "MIN_SECRET_LENGTH",
    "SCHEME",
    "WalletRestCredentials",
    "is_fresh",
    "notification_content",
    "request_content",
    "response_content",
    "sign",
    "timestamp_of",
    "timestamp_seconds",
    "verify",
]

SCHEME = "v1"
MIN_SECRET_LENGTH = 32  # characters: a 128-bit secret in hex, or more
_MAX_TIMESTAMP_DIGITS = 12


def request_content(timestamp: str, method: str, path: str, body: bytes) -> bytes:
    """What a request signs: `<timestamp>.<METHOD>.<path>.<raw body>` (path with its query)."""
    return f"{timestamp}.{method.upper()}.{path}.".encode() + body


def response_content(timestamp: str, status: int, body: bytes) -> bytes:
    """What an answer signs: `<timestamp>.<status code>.<raw body>`."""
    return f"{timestamp}.{status}.".encode() + body


def notification_content(timestamp: str, body: bytes) -> bytes:
    """What a partner's notification signs: `<timestamp>.<raw body>`."""
    return f"{timestamp}.".encode() + body


def _mac(secret: str, content: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), content, hashlib.sha256).hexdigest()


def sign(secret: str, content: bytes) -> str:
    """The `X-Signature` header value: `v1=<hex HMAC-SHA256>`."""
    return f"{SCHEME}={_mac(secret, content)}"


def verify(secret: str, content: bytes, header: str | None) -> bool:
    """True when one `v1=` value of `header` is the MAC of `content`; never raises."""
    if not header:
        return False
    expected = _mac(secret, content).encode("ascii")
    matched = False
    for part in header.split(","):
        scheme, sep, value = part.strip().partition("=")
        if sep and scheme == SCHEME:
            # Every candidate is compared, so timing says nothing about which one matched.
            matched |= hmac.compare_digest(expected, value.strip().encode("ascii", "replace"))
    return matched


def timestamp_seconds(timestamp: str | None) -> int | None:
    """An `X-Timestamp` as unix seconds, or None unless it is 1-12 ASCII digits."""
    if not timestamp or len(timestamp) > _MAX_TIMESTAMP_DIGITS or not timestamp.isascii():
        return None
    if not timestamp.isdigit():
        return None
    return int(timestamp)


def is_fresh(timestamp: str | None, now: datetime, tolerance_seconds: float) -> bool:
    """The `X-Timestamp` is whole unix seconds within `tolerance_seconds` of `now`."""
    seconds = timestamp_seconds(timestamp)
    if seconds is None:
        return False
    return abs(now.timestamp() - seconds) <= tolerance_seconds


def timestamp_of(now: datetime) -> str:
    """`X-Timestamp` for `now`: whole unix seconds."""
    return str(int(now.timestamp()))


@dataclasses.dataclass(frozen=True, slots=True, repr=False)
class WalletRestCredentials:
    """Our API key (sent as `Authorization: Bearer`) and the shared signing secret.

    Parsed once; the repr never shows either value.
    """

    api_key: str
    signing_secret: str

    def __post_init__(self) -> None:
        key = self.api_key
        if not key or not key.isascii() or not key.isprintable() or " " in key:
            raise ValueError("api_key must be printable ASCII without spaces")
        if len(self.signing_secret) < MIN_SECRET_LENGTH:
            raise ValueError(f"signing_secret is shorter than {MIN_SECRET_LENGTH} characters")

    def __repr__(self) -> str:
        return "WalletRestCredentials(api_key=<redacted>, signing_secret=<redacted>)"
