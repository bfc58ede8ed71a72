"""`Gateway-Signature`: HMAC-SHA256 signatures of webhooks and of merchants' requests (API.md).

    Gateway-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, signed content)>

- a webhook signs `"<t>." + raw body` with the merchant's webhook secret (`whsec_...`);
- a merchant's request signs `"<t>.<METHOD> <request-target>." + raw body` with the merchant's
  signing secret (`gsk_...`), where request-target is the raw path with its query string
  (`/v1/payments?limit=5`), exactly as sent.

The HMAC key is the whole secret string in UTF-8, prefix included (as Stripe's `whsec_` secrets
are used). A header may carry several `v1=` values (one per secret while a secret is being
rotated): it is valid when any of them matches any live secret. Unknown schemes (`v0=`) are
ignored, so new ones can be added later. Comparisons are constant-time; a timestamp more than
the tolerance away from the verifier's clock, either way, is stale.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta

__all__ = [
    "DEFAULT_TOLERANCE",
    "SIGNATURE_HEADER",
    "SignatureError",
    "SignatureProblem",
    "compute_signature",
    "parse_signature_header",
    "request_content",
    "sign_request",
    "sign_webhook",
    "signature_header",
    "verify_request",
    "verify_webhook",
    "webhook_content",
]

SIGNATURE_HEADER = "Gateway-Signature"
DEFAULT_TOLERANCE = timedelta(seconds=300)
_MAX_HEADER = 2048  # room for a timestamp and a handful of signatures
_MAX_SIGNATURES = 8
_HEX = frozenset("0123456789abcdef")
_TIMESTAMP = re.compile("[0-9]{1,12}")


class SignatureProblem(enum.StrEnum):
    MISSING = "missing"
    MALFORMED = "malformed"
    STALE = "stale"
    WRONG = "wrong"


class SignatureError(Exception):
    """A signature that does not verify; `problem` says why, the message says what to do."""

    def __init__(self, problem: SignatureProblem, message: str) -> None:
        super().__init__(message)
        self.problem = problem
        self.message = message


def webhook_content(timestamp: int, body: bytes) -> bytes:
    """What a webhook's signature covers: `"<t>." + raw body`."""
    return f"{timestamp}.".encode() + body


def request_content(timestamp: int, method: str, target: str, body: bytes) -> bytes:
    """What a merchant request's signature covers: `"<t>.<METHOD> <request-target>." + body`.

    `surrogateescape` gives back the bytes the client sent where aiohttp could not decode them
    as UTF-8, so a hostile request line is compared (and refused), never a crash."""
    return f"{timestamp}.{method.upper()} {target}.".encode("utf-8", "surrogateescape") + body


def compute_signature(secret: str, content: bytes) -> str:
    """Lower-case hex HMAC-SHA256 of `content` under the secret's UTF-8 bytes."""
    return hmac.new(secret.encode(), content, hashlib.sha256).hexdigest()


def signature_header(timestamp: int, signatures: Iterable[str]) -> str:
    values = ",".join(f"v1={signature}" for signature in signatures)
    return f"t={timestamp},{values}"


def sign_webhook(secrets: Sequence[str], body: bytes, timestamp: int) -> str:
    """The header for a webhook body: one `v1=` per live secret (the current one first)."""
    content = webhook_content(timestamp, body)
    return signature_header(timestamp, (compute_signature(s, content) for s in secrets))


def sign_request(secret: str, method: str, target: str, body: bytes, timestamp: int) -> str:
    """The header a merchant sends (what an SDK does; the tests use it)."""
    content = request_content(timestamp, method, target, body)
    return signature_header(timestamp, [compute_signature(secret, content)])


def parse_signature_header(header: str) -> tuple[int, list[str]]:
    """`(t, [v1 signatures])`; `SignatureError(MALFORMED)` unless there is exactly one `t` (unix
    seconds) and 1 to 8 `v1` values of 64 hex digits."""
    if len(header) > _MAX_HEADER:
        raise SignatureError(
            SignatureProblem.MALFORMED, f"{SIGNATURE_HEADER} is malformed: it is too long."
        )
    timestamps: list[str] = []
    signatures: list[str] = []
    for item in header.split(","):
        name, equals, value = item.strip().partition("=")
        if not equals:
            raise _malformed()
        if name == "t":
            timestamps.append(value)
        elif name == "v1":
            value = value.lower()
            if len(value) != 64 or not _HEX.issuperset(value):
                raise _malformed()
            signatures.append(value)
    # At most 12 ASCII digits: unix seconds until the year 33658, and never an int that
    # overflows the float the clock comparison needs.
    if len(timestamps) != 1 or not _TIMESTAMP.fullmatch(timestamps[0]):
        raise _malformed()
    if not 1 <= len(signatures) <= _MAX_SIGNATURES:
        raise _malformed()
    return int(timestamps[0]), signatures


def _malformed() -> SignatureError:
    return SignatureError(
        SignatureProblem.MALFORMED,
        f"{SIGNATURE_HEADER} is malformed: send 't=<unix seconds>,v1=<64 hex digits>'.",
    )


def _verify(
    header: str | None,
    secrets: Sequence[str],
    content_for: Callable[[int], bytes],
    now: datetime,
    tolerance: timedelta,
    signed: str,
) -> int:
    if header is None or not header.strip():
        raise SignatureError(SignatureProblem.MISSING, f"{SIGNATURE_HEADER} is missing.")
    timestamp, signatures = parse_signature_header(header)
    skew = abs(now.timestamp() - timestamp)
    if skew > tolerance.total_seconds():
        raise SignatureError(
            SignatureProblem.STALE,
            f"{SIGNATURE_HEADER} is stale: its timestamp is {int(skew)} s away from the "
            "gateway's clock "
            f"(at most {int(tolerance.total_seconds())} s allowed): sign each request when it "
            "is sent, and keep the clock in sync.",
        )
    content = content_for(timestamp)
    matched = False
    for secret in secrets:
        expected = compute_signature(secret, content)
        for signature in signatures:
            # No early exit: the time taken says nothing about which value matched.
            matched |= hmac.compare_digest(expected, signature)
    if not matched:
        raise SignatureError(
            SignatureProblem.WRONG,
            f"{SIGNATURE_HEADER} is wrong: no v1 signature matches; sign {signed}.",
        )
    return timestamp


def verify_webhook(
    header: str | None,
    secrets: Sequence[str],
    body: bytes,
    *,
    now: datetime,
    tolerance: timedelta = DEFAULT_TOLERANCE,
) -> int:
    """Check a webhook (what a merchant's receiver does); returns its timestamp."""
    return _verify(
        header,
        secrets,
        lambda t: webhook_content(t, body),
        now,
        tolerance,
        "'<t>.<raw body>' with the webhook secret",
    )


def verify_request(
    header: str | None,
    secrets: Sequence[str],
    *,
    method: str,
    target: str,
    body: bytes,
    now: datetime,
    tolerance: timedelta = DEFAULT_TOLERANCE,
) -> int:
    """Check a merchant's signed request; returns its timestamp."""
    return _verify(
        header,
        secrets,
        lambda t: request_content(t, method, target, body),
        now,
        tolerance,
        "'<t>.<METHOD> <path?query>.<raw body>' with the merchant's signing secret",
    )
