"""Amount converters for partner wire formats (the hyperswitch `AmountConvertor` idea).

Inside the gateway money is always `Money` (integer minor units). Each adapter picks the converter
its partner's protocol needs: minor units as a string or an integer, or major units as a string.
Every reverse converter is strict, because a partner's echoed amount is compared for equality and
a lenient parse could turn a mismatch into a match.
"""

import re

from ._currency import Currency, coerce_currency
from ._exceptions import InvalidAmount
from ._money import Money

__all__ = [
    "from_major_str",
    "from_minor_int",
    "from_minor_str",
    "to_major_str",
    "to_minor_int",
    "to_minor_str",
]

_MINOR = re.compile(r"0|-?[1-9][0-9]*")
_MAX_TEXT = 40


def to_minor_str(money: Money) -> str:
    """Minor units as a decimal string: 1000 THB minor -> "1000"."""
    return str(money.value)


def from_minor_str(value: str, currency: str | Currency) -> Money:
    """Strict reverse of `to_minor_str`: ASCII digits, optional '-', no '+', no leading zeros."""
    cur = coerce_currency(currency)
    if not isinstance(value, str) or len(value) > _MAX_TEXT or not _MINOR.fullmatch(value):
        raise InvalidAmount(f"not a minor-unit integer string: {value!r}")
    return Money(int(value), cur)


def to_minor_int(money: Money) -> int:
    """Minor units as an integer, for protocols with JSON integer amounts."""
    return money.value


def from_minor_int(value: int, currency: str | Currency) -> Money:
    """Reverse of `to_minor_int`; floats and bools are refused, not truncated."""
    return Money.of(value, currency)


def to_major_str(money: Money) -> str:
    """Major units with exactly the currency's decimals: "10.00" THB, "1234" JPY."""
    return money.format()


def from_major_str(value: str, currency: str | Currency) -> Money:
    """Strict major-unit string -> Money, with the rules of `Money.parse`."""
    return Money.parse(value, currency)
