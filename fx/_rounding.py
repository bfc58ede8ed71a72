"""The one rounding rule of the money path: exact Decimal arithmetic, then half-up, once.

Half-up here is Decimal's ROUND_HALF_UP: ties go away from zero (2.5 -> 3, -2.5 -> -3), so a
refund rounds to the mirror image of the payment it reverses.
"""

from decimal import ROUND_HALF_UP, Context, Decimal, Inexact, InvalidOperation, Overflow

from ._currency import Currency
from ._exceptions import InvalidAmount

__all__ = ["convert_minor", "format_rate", "round_half_up", "round_significant"]

# Enough for any amount times any 10-significant-digit rate; convert_minor widens it if needed.
_EXACT_PREC = 50


def check_int(value: object, what: str = "amount") -> int:
    """Return `value` if it is a real `int`; bools and floats are refused, never truncated."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidAmount(f"{what} must be an integer, got {type(value).__name__}: {value!r}")
    return value


def check_decimal(value: object, what: str = "value") -> Decimal:
    """Return `value` if it is a finite `Decimal`; a float has already lost its exact value."""
    if not isinstance(value, Decimal):
        raise InvalidAmount(f"{what} must be a Decimal, got {type(value).__name__}: {value!r}")
    if not value.is_finite():
        raise InvalidAmount(f"{what} must be finite, got {value}")
    return value


def check_rate(value: object, what: str = "rate") -> Decimal:
    """A rate is a finite, strictly positive Decimal."""
    rate = check_decimal(value, what)
    if rate <= 0:
        raise InvalidAmount(f"{what} must be positive, got {rate}")
    return rate


def exact_context(digits: int) -> Context:
    """A context wide enough for a `digits`-digit result that raises rather than round."""
    prec = max(_EXACT_PREC, digits + 2)
    return Context(prec=prec, traps=[Inexact, InvalidOperation, Overflow])


def round_half_up(value: Decimal) -> int:
    """Round to an integer, ties away from zero; exact whatever the current Decimal context."""
    value = check_decimal(value)
    return int(value.to_integral_value(rounding=ROUND_HALF_UP))


def round_significant(value: Decimal, digits: int = 10) -> Decimal:
    """Round half-up to `digits` significant digits, without trailing zeros or a positive exponent.

    The canonical form makes `str(rate) == format_rate(rate)` for ordinary rates, so a rate reads
    the same in the API, the database and a recomputation.
    """
    value = check_decimal(value)
    if isinstance(digits, bool) or not isinstance(digits, int) or digits < 1:
        raise ValueError(f"digits must be a positive integer, got {digits!r}")
    rounded = Context(prec=digits, rounding=ROUND_HALF_UP).plus(value)
    return _canonical(rounded)


def _canonical(value: Decimal) -> Decimal:
    if value.is_zero():
        return Decimal(0)
    sign, coefficient, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite: checked by the callers
    digits = list(coefficient)
    while exponent < 0 and digits[-1] == 0:
        digits.pop()
        exponent += 1
    if exponent > 0:
        digits.extend([0] * exponent)
        exponent = 0
    return Decimal((sign, tuple(digits), exponent))


def format_rate(rate: Decimal) -> str:
    """A plain decimal string with no exponent and no trailing zeros: "0.185948", "100"."""
    rate = check_decimal(rate, "rate")
    return f"{_canonical(rate):f}"


def convert_minor(value: int, rate: Decimal, source: Currency, target: Currency) -> int:
    """Convert minor units of `source` to minor units of `target`, rounding once at the end.

    round_half_up(value × rate × 10^(e_target − e_source)), which anyone can recompute from the
    quote. The product is computed exactly (Inexact is trapped, so nothing rounds before the end).
    """
    value = check_int(value)
    rate = check_rate(rate)
    if not isinstance(source, Currency) or not isinstance(target, Currency):
        raise TypeError("source and target must be Currency instances")
    exact = exact_context(len(str(abs(value))) + len(rate.as_tuple().digits))
    product = exact.multiply(Decimal(value), rate)
    return round_half_up(exact.scaleb(product, Decimal(target.exponent - source.exponent)))
