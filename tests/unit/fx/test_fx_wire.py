"""Wire converters: what adapters put on and read off a partner's wire, strictly."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fx import (
    InvalidAmount,
    Money,
    UnsupportedCurrency,
    from_major_str,
    from_minor_int,
    from_minor_str,
    get_currency,
    payment_currencies,
    to_major_str,
    to_minor_int,
    to_minor_str,
)


def test_examples() -> None:
    money = Money.of(1000, "THB")
    assert to_minor_str(money) == "1000"
    assert to_minor_int(money) == 1000
    assert to_major_str(money) == "10.00"
    assert to_major_str(Money.of(1234, "JPY")) == "1234"
    assert to_major_str(Money.of(1250, "KWD")) == "1.250"
    assert to_major_str(Money.of(-5, "THB")) == "-0.05"
    assert from_minor_str("1000", "THB") == money
    assert from_minor_str("-310", "THB") == Money.of(-310, "THB")
    assert from_minor_str("0", "JPY") == Money.of(0, "JPY")
    assert from_minor_int(1000, get_currency("THB")) == money
    assert from_major_str("10.00", "THB") == money
    assert from_major_str("1.250", "KWD") == Money.of(1250, "KWD")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "-",
        "+1000",
        " 1000",
        "1000 ",
        "1000\n",
        "01000",
        "00",
        "-0",
        "-01",
        "10.00",
        "1e3",
        "1_000",
        "1,000",
        "١٠٠٠",
        "9" * 41,
    ],
)
def test_from_minor_str_is_strict(text: str) -> None:
    with pytest.raises(InvalidAmount):
        from_minor_str(text, "THB")


@pytest.mark.parametrize("bad", [1000, 10.0, b"1000", None])
def test_from_minor_str_rejects_non_strings(bad: object) -> None:
    with pytest.raises(InvalidAmount):
        from_minor_str(bad, "THB")  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [10.0, True, Decimal(10), "10"])
def test_from_minor_int_rejects_non_ints(bad: object) -> None:
    with pytest.raises(InvalidAmount):
        from_minor_int(bad, "THB")  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["10.005", "1e1", "+10", "10.00 ", "", "-0.00"])
def test_from_major_str_is_strict(text: str) -> None:
    with pytest.raises(InvalidAmount):
        from_major_str(text, "THB")


def test_currency_is_checked() -> None:
    with pytest.raises(UnsupportedCurrency):
        from_minor_str("1000", "XXX")
    with pytest.raises(UnsupportedCurrency):
        from_major_str("10.00", "thb")


@settings(max_examples=200)
@given(
    st.integers(min_value=-(10**13), max_value=10**13),
    st.sampled_from(sorted(payment_currencies())),
)
def test_round_trips(value: int, code: str) -> None:
    money = Money.of(value, code)
    assert from_minor_str(to_minor_str(money), code) == money
    assert from_minor_int(to_minor_int(money), code) == money
    assert from_major_str(to_major_str(money), code) == money
    assert to_major_str(money) == money.format()
