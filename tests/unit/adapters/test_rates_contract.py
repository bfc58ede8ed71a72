"""The `fx_rates` part of the adapter contract: its types, the strict rate reader, the timeout
default, and that every family offers it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

import adapters
from adapters import (
    DEFAULT_TIMEOUTS,
    PROTOCOLS,
    AdapterConfigError,
    Operation,
    PartnerRates,
    RatesRequest,
    RatesUnavailable,
)
from adapters._rates import DEFAULT_RATES_TIMEOUT, RATE_DIGITS, read_rate

NOW = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)


def rates(**overrides: Any) -> PartnerRates:
    fields: dict[str, Any] = {
        "partner_id": "p",
        "base": "THB",
        "rates": {"CNY": Decimal("0.1832")},
        "published_at": NOW,
        "expires_at": NOW + timedelta(minutes=10),
        "raw": b"{}",
    }
    return PartnerRates(**(fields | overrides))


def test_the_operation_and_its_names_are_public() -> None:
    assert Operation.FX_RATES.value == "fx_rates"
    assert DEFAULT_TIMEOUTS[Operation.FX_RATES] == 5.0 == DEFAULT_RATES_TIMEOUT
    # the optional operations, and only those, have a default (configurations may omit them)
    assert set(DEFAULT_TIMEOUTS) == {Operation.FX_RATES, Operation.ORDER_CODE, Operation.ENTRY_CODE}
    for name in ("PartnerRates", "RatesRequest", "RatesUnavailable", "DEFAULT_TIMEOUTS"):
        assert name in adapters.__all__
    assert RATE_DIGITS == 10
    error = RatesUnavailable("why", http_status=502)
    assert (str(error), error.message, error.http_status) == ("why", "why", 502)
    assert RatesUnavailable("why").http_status is None


def test_a_request_names_iso_codes_once_and_not_the_base() -> None:
    request = RatesRequest("THB", ["CNY", "KRW"])  # type: ignore[arg-type]
    assert request.quotes == ("CNY", "KRW")  # a list becomes a tuple
    for base, quotes in [
        ("THB", ()),
        ("thb", ("CNY",)),
        ("THB", ("CNY", "CNY")),
        ("THB", ("THB",)),
        ("THB", ("XYZ",)),
        ("BAHT", ("CNY",)),
        ("THB", ("CN",)),
    ]:
        with pytest.raises(ValueError):
            RatesRequest(base, quotes)


def test_partner_rates_hold_positive_decimals_of_at_most_ten_digits() -> None:
    made = rates(rates={"CNY": Decimal("0.1860417464"), "KRW": Decimal("36.10758975")})
    assert made.rates["CNY"] == Decimal("0.1860417464")
    with pytest.raises(TypeError):
        made.rates["CNY"] = Decimal(1)  # type: ignore[index]
    assert "raw" not in repr(made)
    assert rates(expires_at=None).expires_at is None
    for bad in [
        {"rates": {}},
        {"rates": {"CNY": 0.1832}},
        {"rates": {"CNY": 1}},
        {"rates": {"CNY": Decimal(0)}},
        {"rates": {"CNY": Decimal("-0.1")}},
        {"rates": {"CNY": Decimal("NaN")}},
        {"rates": {"CNY": Decimal("Infinity")}},
        {"rates": {"CNY": Decimal("0.18604174645")}},  # 11 significant digits
        {"rates": {"THB": Decimal(1)}},  # the base
        {"rates": {"cny": Decimal(1)}},
        {"base": "XXXX"},
        {"published_at": datetime(2026, 12, 5, 2, 0)},
        {"expires_at": datetime(2026, 12, 5, 2, 10)},
        {"expires_at": NOW - timedelta(seconds=1)},
    ]:
        with pytest.raises(ValueError):
            rates(**bad)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.1832", "0.1832"),
        ("1321.61", "1321.61"),
        ("0.18320", "0.1832"),
        ("7", "7"),
        ("0.186041746449", "0.1860417464"),
        ("0.18604174645", "0.1860417465"),  # half-up at the 11th digit
        ("123456789012", "123456789000"),
        ("0.00000000001234567890123", "0.00000000001234567890"),
    ],
)
def test_read_rate_rounds_half_up_to_ten_significant_digits(text: str, expected: str) -> None:
    assert read_rate(text) == Decimal(expected)
    assert isinstance(read_rate(text), Decimal)


@pytest.mark.parametrize(
    "text",
    [
        "0",
        "0.000",
        "-0.1",
        "+0.1",
        "1E-3",
        "1e3",
        "NaN",
        "nan",
        "Infinity",
        "-Infinity",
        "",
        " 0.1",
        "0.1 ",
        ".5",
        "5.",
        "01.5",
        "0x1A",
        "1_000",
        "٣",  # a non-ASCII digit Decimal() would accept
        "1" * 65,
        None,
        0.1832,
        1,
    ],
)
def test_read_rate_refuses_anything_but_a_positive_plain_decimal(text: object) -> None:
    with pytest.raises(ValueError, match="quotePrice"):
        read_rate(text, "quotePrice")


@pytest.mark.parametrize("family", sorted(PROTOCOLS))
def test_every_family_offers_fx_rates_with_a_default_timeout(family: str) -> None:
    """`fx_rates` is a capability; a configuration without its timeout still builds (5 s),
    one with a non-positive timeout for it does not."""
    from tests.support.families import _SETUPS

    _, credentials = _SETUPS[family]({})
    spec = PROTOCOLS[family]
    timeouts = {op: 2.0 for op in Operation if op is not Operation.FX_RATES}
    built = spec.build(
        partner_id="p",
        base_url="https://partner.test",
        credentials=credentials,
        http=None,  # type: ignore[arg-type]
        timeouts=timeouts,
        clock=adapters.SystemClock(),
    )
    assert Operation.FX_RATES in built.capabilities
    assert built._timeouts[Operation.FX_RATES] == DEFAULT_RATES_TIMEOUT  # type: ignore[attr-defined]
    given = spec.build(
        partner_id="p",
        base_url="https://partner.test",
        credentials=credentials,
        http=None,  # type: ignore[arg-type]
        timeouts=timeouts | {Operation.FX_RATES: 0.5},
        clock=adapters.SystemClock(),
    )
    assert given._timeouts[Operation.FX_RATES] == 0.5  # type: ignore[attr-defined]
    with pytest.raises(AdapterConfigError, match="fx_rates"):
        spec.build(
            partner_id="p",
            base_url="https://partner.test",
            credentials=credentials,
            http=None,  # type: ignore[arg-type]
            timeouts=timeouts | {Operation.FX_RATES: 0},
            clock=adapters.SystemClock(),
        )
