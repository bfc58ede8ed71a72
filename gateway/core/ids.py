"""Opaque, type-prefixed ids that sort by creation time (`pay_01jd...`).

48 bits of milliseconds then 80 random bits, in lower-case Crockford base32, like a ULID: newest
first is "largest id first", which makes `starting_after` paging a plain index range.
"""

from __future__ import annotations

import base64
import secrets
import time

__all__ = ["new_id"]

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_STANDARD = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_TO_CROCKFORD = bytes.maketrans(_STANDARD.encode(), _ALPHABET.encode())


def new_id(prefix: str) -> str:
    # 130 bits = 48 of milliseconds, 80 random, 2 of padding: 26 base32 characters.
    number = (time.time_ns() // 1_000_000) << 82 | secrets.randbits(80) << 2
    encoded = base64.b32encode(number.to_bytes(17, "big")).translate(_TO_CROCKFORD)
    return f"{prefix}_{encoded[1:27].decode()}"
