"""The ISO 4217 table: exponents as published, and only currencies a tourist can pay with."""

import pytest

from fx import Currency, UnsupportedCurrency, get_currency, payment_currencies


@pytest.mark.parametrize(
    ("code", "exponent", "numeric"),
    [
        ("JPY", 0, "392"),
        ("KRW", 0, "410"),
        ("KWD", 3, "414"),
        ("BHD", 3, "048"),
        ("THB", 2, "764"),
        ("CNY", 2, "156"),
        ("EUR", 2, "978"),
        ("PHP", 2, "608"),
        ("UYU", 2, "858"),
    ],
)
def test_known_currencies(code: str, exponent: int, numeric: str) -> None:
    currency = get_currency(code)
    assert currency == Currency(code, exponent, numeric, currency.name)
    assert currency.name
    assert str(currency) == code


@pytest.mark.parametrize("code", ["BOV", "CHE", "CHW", "CLF", "COU", "MXV", "USN", "UYI"])
def test_fund_codes_are_not_payment_currencies(code: str) -> None:
    with pytest.raises(UnsupportedCurrency) as info:
        get_currency(code)
    assert info.value.code == code


@pytest.mark.parametrize(
    "code", ["UYW", "XAU", "XTS", "XXX", "XDR", "thb", "Thb", "ABC", "", "THB "]
)
def test_rejected_codes(code: str) -> None:
    with pytest.raises(UnsupportedCurrency) as info:
        get_currency(code)
    assert info.value.code == code
    assert code in str(info.value)


@pytest.mark.parametrize("code", [None, 764, b"THB", 1.0, True])
def test_non_str_codes_are_unsupported(code: object) -> None:
    with pytest.raises(UnsupportedCurrency):
        get_currency(code)  # type: ignore[arg-type]


def test_payment_currencies_table() -> None:
    codes = payment_currencies()
    assert isinstance(codes, frozenset)
    assert {"THB", "CNY", "KRW", "PHP", "JPY", "KWD", "EUR", "USD"} <= codes
    assert not codes & {"BOV", "CHE", "CHW", "CLF", "COU", "MXV", "USN", "UYI", "UYW"}
    assert not codes & {"XAU", "XAG", "XTS", "XXX"}
    assert {get_currency(code).exponent for code in codes} <= {0, 2, 3, 4}
    for code in codes:
        assert len(code) == 3 and code.isupper()
        assert len(get_currency(code).numeric) == 3


def test_lookups_return_the_cached_instance() -> None:
    assert get_currency("THB") is get_currency("THB")


def test_currency_is_immutable() -> None:
    from dataclasses import FrozenInstanceError

    with pytest.raises(FrozenInstanceError):
        get_currency("THB").exponent = 0  # type: ignore[misc]
