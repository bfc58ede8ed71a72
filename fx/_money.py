"""`Money`: an integer count of a currency's minor units, exactly as the API and database hold it.

There is no float path in or out: constructors refuse floats and bools, major-unit strings are
parsed digit by digit, and arithmetic never mixes currencies.
"""

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Self

from ._currency import Currency, coerce_currency
from ._exceptions import CurrencyMismatch, InvalidAmount
from ._rounding import check_int

__all__ = ["MAX_AMOUNT", "Money"]

MAX_AMOUNT = 10**13
"""Largest `value` a request may carry (API.md, Money); sums in responses may exceed it."""

# Integer part without leading zeros, optional fraction; ASCII digits only, no sign but '-'.
_MAJOR = re.compile(r"(-?)(0|[1-9][0-9]*)(?:\.([0-9]+))?")
# Longer strings are junk, and would only make int() work hard (10**13 has 14 digits).
_MAX_TEXT = 40


@dataclass(frozen=True, slots=True)
class Money:
    """A signed integer of minor units plus its currency: `Money(125050, THB)` is 1,250.50 THB.

    Zero and negative values are allowed (nothing refunded yet, refund lines, negative nets);
    request limits such as 1 ≤ value ≤ `MAX_AMOUNT` are checked where requests are made.
    """

    value: int
    currency: Currency

    def __post_init__(self) -> None:
        check_int(self.value)
        if not isinstance(self.currency, Currency):
            raise TypeError(
                f"currency must be a Currency, got {type(self.currency).__name__}; "
                "use Money.of(value, code)"
            )
        coerce_currency(self.currency)

    @classmethod
    def of(cls, value: int, currency: str | Currency) -> Self:
        """Build from minor units and a currency code or `Currency`."""
        return cls(check_int(value), coerce_currency(currency))

    @classmethod
    def parse(cls, major: str, currency: str | Currency) -> Self:
        """Parse a major-unit string: "1250.50" THB, "1234" JPY, "1.250" KWD, "-3.10".

        At most `exponent` decimals ("1.005" THB would need rounding, so it is refused), no
        exponent notation, no '+', no whitespace, no thousands separators, no "-0".
        """
        cur = coerce_currency(currency)
        if not isinstance(major, str):
            raise InvalidAmount(f"amount must be a string, got {type(major).__name__}: {major!r}")
        match = _MAJOR.fullmatch(major) if len(major) <= _MAX_TEXT else None
        if match is None:
            raise InvalidAmount(f"not a decimal amount: {major!r}")
        sign, whole, fraction = match.groups()
        fraction = fraction or ""
        if len(fraction) > cur.exponent:
            raise InvalidAmount(
                f"{major!r} has {len(fraction)} decimals; {cur.code} has {cur.exponent}"
            )
        value = int(whole + fraction.ljust(cur.exponent, "0"))
        if sign and value == 0:
            raise InvalidAmount(f"negative zero is not an amount: {major!r}")
        return cls(-value if sign else value, cur)

    def format(self) -> str:
        """Major units with exactly the currency's decimals: "1250.50", "1234", "1.250", "-0.05"."""
        exponent = self.currency.exponent
        sign = "-" if self.value < 0 else ""
        digits = str(abs(self.value))
        if exponent == 0:
            return sign + digits
        digits = digits.rjust(exponent + 1, "0")
        return f"{sign}{digits[:-exponent]}.{digits[-exponent:]}"

    def to_decimal(self) -> Decimal:
        """Major units as an exact Decimal (Decimal("1250.50") for 125050 THB)."""
        return Decimal(self.format())

    def to_json(self) -> dict[str, object]:
        """The API's Money object: {"currency": "THB", "value": 125050}."""
        return {"currency": self.currency.code, "value": self.value}

    @classmethod
    def from_json(cls, data: object) -> Self:
        """Inverse of `to_json`; strict, since it reads stored or replayed documents."""
        if not isinstance(data, dict) or set(data) != {"currency", "value"}:
            raise InvalidAmount(f"not a Money object: {data!r}")
        return cls.of(data["value"], data["currency"])

    def _same_currency(self, other: "Money") -> None:
        if self.currency != other.currency:
            raise CurrencyMismatch(
                f"cannot combine {self.currency.code} and {other.currency.code} amounts"
            )

    def __add__(self, other: "Money") -> "Money":
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return Money(self.value + other.value, self.currency)

    def __sub__(self, other: "Money") -> "Money":
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return Money(self.value - other.value, self.currency)

    def __neg__(self) -> "Money":
        return Money(-self.value, self.currency)

    def __abs__(self) -> "Money":
        return Money(abs(self.value), self.currency)

    def __lt__(self, other: "Money") -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return self.value < other.value

    def __le__(self, other: "Money") -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return self.value <= other.value

    def __gt__(self, other: "Money") -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return self.value > other.value

    def __ge__(self, other: "Money") -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return self.value >= other.value

    def __str__(self) -> str:
        return f"{self.format()} {self.currency.code}"
