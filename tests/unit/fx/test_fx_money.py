"""Money: exact minor units, strict parsing, and no arithmetic across currencies."""

from dataclasses import FrozenInstanceError
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fx import (
    MAX_AMOUNT,
    Currency,
    CurrencyMismatch,
    InvalidAmount,
    Money,
    UnsupportedCurrency,
    get_currency,
    payment_currencies,
)

CODES = sorted(payment_currencies())
BY_EXPONENT: dict[int, list[str]] = {}
for _code in CODES:
    BY_EXPONENT.setdefault(get_currency(_code).exponent, []).append(_code)


def test_exponents_in_use() -> None:
    # The only exponent-4 codes in List One are CLF (a fund) and UYW, neither payable.
    assert sorted(BY_EXPONENT) == [0, 2, 3]


@pytest.mark.parametrize(
    ("text", "code", "value"),
    [
        ("1250.50", "THB", 125050),
        ("1250.5", "THB", 125050),
        ("1250", "THB", 125000),
        ("0.01", "THB", 1),
        ("0", "THB", 0),
        ("1234", "JPY", 1234),
        ("1.250", "KWD", 1250),
        ("0.001", "BHD", 1),
        ("-3.10", "THB", -310),
        ("-0.05", "THB", -5),
        ("10000000000000", "KRW", MAX_AMOUNT),
    ],
)
def test_parse(text: str, code: str, value: int) -> None:
    assert Money.parse(text, code) == Money.of(value, code)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("1250.505", "THB"),
        ("1234.0", "JPY"),
        ("1234.", "JPY"),
        ("1.2500", "KWD"),
        ("1e3", "THB"),
        ("1E3", "JPY"),
        ("+1.00", "THB"),
        (" 1.00", "THB"),
        ("1.00 ", "THB"),
        ("1.00\n", "THB"),
        ("1,000.00", "THB"),
        ("1_000", "THB"),
        (".50", "THB"),
        ("01.00", "THB"),
        ("--1", "THB"),
        ("-0.00", "THB"),
        ("-0", "JPY"),
        ("", "THB"),
        ("NaN", "THB"),
        ("Infinity", "THB"),
        ("١٢٣", "JPY"),  # Arabic-Indic digits: int() would accept them
        ("9" * 41, "JPY"),
    ],
)
def test_parse_rejects(text: str, code: str) -> None:
    with pytest.raises(InvalidAmount):
        Money.parse(text, code)


@pytest.mark.parametrize("bad", [1250.5, 1250, Decimal("1250.50"), None, b"1.00"])
def test_parse_rejects_non_strings(bad: object) -> None:
    with pytest.raises(InvalidAmount):
        Money.parse(bad, "THB")  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [1.0, 125050.0, True, False, Decimal(1), "1", None])
def test_rejects_non_int_values(bad: object) -> None:
    with pytest.raises(InvalidAmount):
        Money.of(bad, "THB")  # type: ignore[arg-type]
    with pytest.raises(InvalidAmount):
        Money(bad, get_currency("THB"))  # type: ignore[arg-type]


def test_rejects_unknown_or_forged_currency() -> None:
    with pytest.raises(UnsupportedCurrency):
        Money.of(1, "XAU")
    with pytest.raises(UnsupportedCurrency):
        Money.of(1, "thb")
    with pytest.raises(UnsupportedCurrency):
        Money.of(1, Currency("JPY", 2, "392", "Yen"))  # wrong exponent
    with pytest.raises(TypeError):
        Money(1, "THB")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "code", "text"),
    [
        (125050, "THB", "1250.50"),
        (1234, "JPY", "1234"),
        (1250, "KWD", "1.250"),
        (-5, "THB", "-0.05"),
        (0, "THB", "0.00"),
        (0, "JPY", "0"),
        (-310, "THB", "-3.10"),
        (1, "CLP", "1"),
        (7, "UYU", "0.07"),
    ],
)
def test_format(value: int, code: str, text: str) -> None:
    money = Money.of(value, code)
    assert money.format() == text
    assert money.to_decimal() == Decimal(text)
    assert str(money.to_decimal()) == text
    assert str(money) == f"{text} {code}"


def test_json() -> None:
    money = Money.of(125050, "THB")
    assert money.to_json() == {"currency": "THB", "value": 125050}
    assert Money.from_json(money.to_json()) == money
    for bad in (
        {"currency": "THB", "value": 1.5},
        {"currency": "THB", "value": True},
        {"currency": "THB"},
        {"currency": "THB", "value": 1, "extra": 1},
        [1, "THB"],
    ):
        with pytest.raises((InvalidAmount, UnsupportedCurrency)):
            Money.from_json(bad)


def test_arithmetic_same_currency() -> None:
    a, b = Money.of(1000, "THB"), Money.of(250, "THB")
    assert a + b == Money.of(1250, "THB")
    assert a - b == Money.of(750, "THB")
    assert b - a == Money.of(-750, "THB")
    assert -a == Money.of(-1000, "THB")
    assert abs(Money.of(-3, "THB")) == Money.of(3, "THB")
    assert b < a and b <= a and a > b and a >= b and a <= a
    assert sorted([a, b]) == [b, a]
    assert sum([a, b], Money.of(0, "THB")) == Money.of(1250, "THB")


def test_arithmetic_across_currencies_raises() -> None:
    thb, jpy = Money.of(100, "THB"), Money.of(100, "JPY")
    for op in (
        lambda: thb + jpy,
        lambda: thb - jpy,
        lambda: thb < jpy,
        lambda: thb <= jpy,
        lambda: thb > jpy,
        lambda: thb >= jpy,
    ):
        with pytest.raises(CurrencyMismatch):
            op()
    assert thb != jpy


def test_no_mixing_with_numbers() -> None:
    money = Money.of(100, "THB")
    with pytest.raises(TypeError):
        _ = money + 1  # type: ignore[operator]
    with pytest.raises(TypeError):
        _ = money < 1  # type: ignore[operator]
    number: object = 100
    assert money != number


def test_frozen_and_hashable() -> None:
    money = Money.of(100, "THB")
    with pytest.raises(FrozenInstanceError):
        money.value = 5  # type: ignore[misc]
    assert len({money, Money.of(100, "THB"), Money.of(100, "JPY")}) == 2


currencies = st.sampled_from(CODES).map(get_currency)
values = st.integers(min_value=-(10**13), max_value=10**13)


@settings(max_examples=200)
@given(values, currencies)
def test_parse_format_round_trip(value: int, currency: Currency) -> None:
    money = Money(value, currency)
    assert Money.parse(money.format(), currency) == money
    assert Money.parse(str(money.to_decimal()), currency) == money


@settings(max_examples=100)
@given(values, st.sampled_from([0, 2, 3]), st.data())
def test_round_trip_for_each_exponent(value: int, exponent: int, data: st.DataObject) -> None:
    currency = get_currency(data.draw(st.sampled_from(BY_EXPONENT[exponent])))
    money = Money(value, currency)
    text = money.format()
    assert len(text.partition(".")[2]) == exponent
    assert Money.parse(text, currency) == money
    assert money.to_decimal() * 10**exponent == value
