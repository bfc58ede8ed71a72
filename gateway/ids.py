"""Opaque, type-prefixed ids that sort by creation time (`pay_01jd...`).

48 bits of milliseconds then 80 random bits, in lower-case Crockford base32, like a ULID: newest
first is "largest id first", which makes `starting_after` paging a plain index range.
"""

from __future__ import annotations

import secrets
import time

__all__ = ["new_id"]

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def _base32(number: int, length: int) -> str:
    chars = []
    for _ in range(length):
        number, digit = divmod(number, 32)
        chars.append(_ALPHABET[digit])
    return "".join(reversed(chars))


def new_id(prefix: str) -> str:
    millis = time.time_ns() // 1_000_000
    return f"{prefix}_{_base32(millis, 10)}{_base32(secrets.randbits(80), 16)}"
