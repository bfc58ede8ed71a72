"""Opaque, type-prefixed ids that sort by creation time (`pay_01jd...`).

48 bits of milliseconds then 80 random bits, in lower-case Crockford base32, like a ULID: newest
first is "largest id first", which makes `starting_after` paging a plain index range.
"""

from __future__ import annotations

import os
import time

__all__ = ["new_id"]

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
# Ten bits at a time, two characters per lookup: a payment takes several ids, and the standard
# library's base32 is pure Python that would cost more than the randomness.
_PAIRS = tuple(high + low for high in _ALPHABET for low in _ALPHABET)
_SHIFTS = tuple(range(120, -1, -10))


def new_id(prefix: str) -> str:
    return f"{prefix}_{_encode(time.time_ns() // 1_000_000, os.urandom(10))}"


def _encode(millis: int, random: bytes) -> str:
    """26 characters: 48 bits of `millis`, the 80 bits of `random`, then a zero bit (130)."""
    number = (millis & (1 << 48) - 1) << 81 | int.from_bytes(random, "big") << 1
    return "".join([_PAIRS[number >> shift & 1023] for shift in _SHIFTS])
