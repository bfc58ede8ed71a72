"""Rounding agrees with integer-only reference implementations built on Fraction."""

import math
from decimal import Decimal, localcontext
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fx import (
    InvalidAmount,
    convert_minor,
    format_rate,
    get_currency,
    payment_currencies,
    round_half_up,
    round_significant,
)


def ref_half_up(x: Fraction) -> int:
    """Ties away from zero, with floor arithmetic only."""
    if x >= 0:
        return math.floor(x + Fraction(1, 2))
    return -math.floor(-x + Fraction(1, 2))


def ref_significant(x: Fraction, digits: int) -> Fraction:
    if x == 0:
        return Fraction(0)
    magnitude = abs(x)
    exponent = 0  # find e with 10^(digits-1) <= |x| * 10^e < 10^digits
    while magnitude * Fraction(10) ** exponent >= 10**digits:
        exponent -= 1
    while magnitude * Fraction(10) ** exponent < 10 ** (digits - 1):
        exponent += 1
    scale = Fraction(10) ** exponent
    return Fraction(ref_half_up(x * scale)) / scale


def decimal_of(mantissa: int, exponent: int) -> Decimal:
    return Decimal(f"{mantissa}E{exponent}")


mantissas = st.integers(min_value=-(10**30), max_value=10**30)
exponents = st.integers(min_value=-20, max_value=5)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2.5", 3),
        ("-2.5", -3),
        ("2.4999999999", 2),
        ("-2.4999999999", -2),
        ("0.5", 1),
        ("-0.5", -1),
        ("1.5", 2),
        ("3", 3),
        ("0", 0),
        ("123456789012345678901234567890.5", 123456789012345678901234567891),
    ],
)
def test_round_half_up_examples(text: str, expected: int) -> None:
    assert round_half_up(Decimal(text)) == expected


def test_round_half_up_ignores_the_ambient_context() -> None:
    with localcontext() as ctx:
        ctx.prec = 3
        assert round_half_up(Decimal("123456.5")) == 123457


@pytest.mark.parametrize("bad", [2.5, True, "2.5", Decimal("NaN"), Decimal("Infinity")])
def test_round_half_up_rejects(bad: object) -> None:
    with pytest.raises(InvalidAmount):
        round_half_up(bad)  # type: ignore[arg-type]


@settings(max_examples=200)
@given(mantissas, exponents)
def test_round_half_up_matches_fraction_reference(mantissa: int, exponent: int) -> None:
    value = decimal_of(mantissa, exponent)
    assert round_half_up(value) == ref_half_up(Fraction(value))


@settings(max_examples=200)
@given(st.integers(min_value=-(10**12), max_value=10**12), st.integers(1, 10**6))
def test_round_half_up_matches_on_exact_halves(numerator: int, power: int) -> None:
    value = Decimal(numerator) + Decimal("0.5")
    assert round_half_up(value) == ref_half_up(Fraction(value))


@pytest.mark.parametrize(
    ("text", "digits", "expected"),
    [
        ("0.18604174634", 10, "0.1860417463"),
        ("0.18604174635", 10, "0.1860417464"),
        ("-0.18604174635", 10, "-0.1860417464"),
        ("9.99999999995", 10, "10"),
        ("1321.61", 10, "1321.61"),
        ("1.000000", 10, "1"),
        ("1E+2", 10, "100"),
        ("123456789012", 10, "123456789000"),
        ("0", 10, "0"),
        ("2.5", 1, "3"),
    ],
)
def test_round_significant_examples(text: str, digits: int, expected: str) -> None:
    result = round_significant(Decimal(text), digits)
    assert result == Decimal(expected)
    assert str(result) == expected


@settings(max_examples=200)
@given(mantissas, exponents, st.integers(min_value=1, max_value=20))
def test_round_significant_matches_fraction_reference(
    mantissa: int, exponent: int, digits: int
) -> None:
    value = decimal_of(mantissa, exponent)
    result = round_significant(value, digits)
    assert Fraction(result) == ref_significant(Fraction(value), digits)
    assert len(result.normalize().as_tuple().digits) <= digits


@pytest.mark.parametrize("digits", [0, -1, True])
def test_round_significant_rejects_bad_digits(digits: int) -> None:
    with pytest.raises(ValueError):
        round_significant(Decimal(1), digits)


@pytest.mark.parametrize(
    ("rate", "text"),
    [
        ("0.185948", "0.185948"),
        ("0.1859480000", "0.185948"),
        ("36.602", "36.602"),
        ("1321.61", "1321.61"),
        ("100", "100"),
        ("1E+2", "100"),
        ("1.00E+2", "100"),
        ("1E-7", "0.0000001"),
        ("0", "0"),
    ],
)
def test_format_rate(rate: str, text: str) -> None:
    assert format_rate(Decimal(rate)) == text


def test_format_rate_rejects_floats() -> None:
    with pytest.raises(InvalidAmount):
        format_rate(0.18)  # type: ignore[arg-type]


CODES = sorted(payment_currencies())


@settings(max_examples=200)
@given(
    st.integers(min_value=-(10**13), max_value=10**13),
    st.integers(min_value=1, max_value=10**10 - 1),
    st.integers(min_value=-14, max_value=4),
    st.sampled_from(CODES),
    st.sampled_from(CODES),
)
def test_convert_minor_matches_fraction_reference(
    value: int, rate_digits: int, rate_exponent: int, source_code: str, target_code: str
) -> None:
    rate = round_significant(decimal_of(rate_digits, rate_exponent))
    source, target = get_currency(source_code), get_currency(target_code)
    expected = ref_half_up(
        value * Fraction(rate) * Fraction(10) ** (target.exponent - source.exponent)
    )
    assert convert_minor(value, rate, source, target) == expected


@pytest.mark.parametrize(
    ("value", "rate", "source", "target", "expected"),
    [
        (125050, "0.1888323726", "THB", "CNY", 23613),
        (1000, "9.573", "JPY", "KRW", 9573),
        (125050, "0.008537", "THB", "KWD", 10676),  # 1250.50 THB at 0.008537 = 10.6755...
        (1, "0.5", "JPY", "JPY", 1),
        (-1, "0.5", "JPY", "JPY", -1),
        (3, "0.5", "JPY", "JPY", 2),
        (1234, "0.01", "KWD", "JPY", 0),  # 1.234 KWD * 0.01 = 0.01234 JPY
    ],
)
def test_convert_minor_examples(
    value: int, rate: str, source: str, target: str, expected: int
) -> None:
    assert (
        convert_minor(value, Decimal(rate), get_currency(source), get_currency(target)) == expected
    )


def test_convert_minor_is_exact_for_long_operands() -> None:
    rate = Decimal("1." + "0" * 60 + "5")
    thb = get_currency("THB")
    assert convert_minor(10**13, rate, thb, thb) == 10**13


@pytest.mark.parametrize(
    ("value", "rate"),
    [
        (1.0, Decimal(1)),
        (True, Decimal(1)),
        (1, 1.5),
        (1, Decimal(0)),
        (1, Decimal(-1)),
        (1, Decimal("NaN")),
        (1, "1"),
    ],
)
def test_convert_minor_rejects(value: object, rate: object) -> None:
    thb = get_currency("THB")
    with pytest.raises(InvalidAmount):
        convert_minor(value, rate, thb, thb)  # type: ignore[arg-type]
