"""Ids: the format integrators see (prefix, 26 Crockford base32 characters) and time order."""

from __future__ import annotations

import base64
import re

from hypothesis import given
from hypothesis import strategies as st

from gateway.core import ids
from gateway.core.ids import new_id

_CROCKFORD = bytes.maketrans(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", b"0123456789abcdefghjkmnpqrstvwxyz"
)


def _reference(millis: int, random: bytes) -> str:
    """The ULID-like layout spelled with the standard library's base32 (RFC 4648, then mapped to
    Crockford's alphabet): 48 bits of time, 80 random, 2 zero bits, in 17 bytes."""
    number = millis << 82 | int.from_bytes(random, "big") << 2
    return base64.b32encode(number.to_bytes(17, "big")).translate(_CROCKFORD)[1:27].decode()


@given(st.integers(0, 2**48 - 1), st.binary(min_size=10, max_size=10))
def test_encoding_matches_base32_of_time_then_randomness(millis: int, random: bytes) -> None:
    assert ids._encode(millis, random) == _reference(millis, random)


@given(
    st.integers(0, 2**48 - 2),
    st.binary(min_size=10, max_size=10),
    st.binary(min_size=10, max_size=10),
)
def test_a_later_millisecond_sorts_after_whatever_the_randomness(
    millis: int, first: bytes, second: bytes
) -> None:
    assert ids._encode(millis, first) < ids._encode(millis + 1, second)


def test_new_ids_are_prefixed_distinct_and_well_formed() -> None:
    made = [new_id("pay") for _ in range(1000)]
    assert len(set(made)) == len(made)
    assert all(re.fullmatch(r"pay_[0-9a-hjkmnp-tv-z]{26}", i) for i in made)
