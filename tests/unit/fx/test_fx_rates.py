"""Rate sources: ECB file parsing, cross rates, staleness and the static source."""

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fx import (
    EcbXmlRateSource,
    InvalidAmount,
    MidRate,
    RateSource,
    RateUnavailable,
    StaticRateSource,
    UnsupportedCurrency,
    default_ecb_file,
    format_rate,
    get_currency,
)

NOW = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
ECB_AS_OF = datetime(2022, 7, 8, 16, 0, tzinfo=ZoneInfo("Europe/Berlin"))
ECB_RATES = {
    "USD": "1.0163", "JPY": "138.05", "BGN": "1.9558", "CZK": "24.614", "DKK": "7.4424",
    "GBP": "0.84585", "HUF": "402.45", "PLN": "4.7630", "RON": "4.9431", "SEK": "10.6665",
    "CHF": "0.9913", "ISK": "139.50", "NOK": "10.2630", "HRK": "7.5190", "TRY": "17.6026",
    "AUD": "1.4871", "BRL": "5.4345", "CAD": "1.3201", "CNY": "6.8095", "HKD": "7.9769",
    "IDR": "15210.73", "ILS": "3.5325", "INR": "80.5280", "KRW": "1321.61", "MXN": "20.8477",
    "MYR": "4.4992", "NZD": "1.6464", "PHP": "56.882", "SGD": "1.4228", "THB": "36.602",
    "ZAR": "17.1922",
}  # fmt: skip
THB, CNY, KWD, JPY, KRW, EUR = (get_currency(c) for c in ("THB", "CNY", "KWD", "JPY", "KRW", "EUR"))


def ref_mid(quote_per_eur: Fraction, base_per_eur: Fraction) -> Fraction:
    """quote/base rounded half-up to 10 significant digits, in integers only."""
    exact = quote_per_eur / base_per_eur
    exponent = 0
    while exact * Fraction(10) ** exponent >= 10**10:
        exponent -= 1
    while exact * Fraction(10) ** exponent < 10**9:
        exponent += 1
    scale = Fraction(10) ** exponent
    return Fraction(math.floor(exact * scale + Fraction(1, 2))) / scale


@pytest.fixture(scope="module")
def ecb() -> EcbXmlRateSource:
    return EcbXmlRateSource.from_file(default_ecb_file())


def test_shipped_file(ecb: EcbXmlRateSource) -> None:
    assert default_ecb_file().name == "ecb-eurofxref-2022-07-08.xml"
    assert default_ecb_file().is_file()
    assert ecb.name == "ecb"
    assert ecb.as_of == ECB_AS_OF
    assert ecb.as_of.astimezone(UTC) == datetime(2022, 7, 8, 14, 0, tzinfo=UTC)
    assert ecb.max_age is None
    assert isinstance(ecb, RateSource)
    # Structural typing: mypy checks that the ECB source satisfies the protocol.
    source: RateSource = ecb
    assert source.name == "ecb"


def test_worked_example_thb_to_cny(ecb: EcbXmlRateSource) -> None:
    mid = ecb.mid_rate(THB, CNY, NOW)
    assert Fraction(mid.rate) == ref_mid(Fraction("6.8095"), Fraction("36.602"))
    assert format_rate(mid.rate) == "0.1860417464"
    assert mid == MidRate(THB, CNY, Decimal("0.1860417464"), ECB_AS_OF, "ecb")


def test_eur_legs(ecb: EcbXmlRateSource) -> None:
    assert ecb.mid_rate(EUR, THB, NOW).rate == Decimal("36.602")
    assert ecb.mid_rate(EUR, KRW, NOW).rate == Decimal("1321.61")
    assert Fraction(ecb.mid_rate(THB, EUR, NOW).rate) == ref_mid(Fraction(1), Fraction("36.602"))
    assert "EUR" in ecb.currencies()


def test_same_currency_is_one_even_if_unlisted(ecb: EcbXmlRateSource) -> None:
    assert ecb.mid_rate(THB, THB, NOW).rate == 1
    assert ecb.mid_rate(KWD, KWD, NOW).rate == 1


def test_missing_currency_names_it(ecb: EcbXmlRateSource) -> None:
    with pytest.raises(RateUnavailable, match="KWD"):
        ecb.mid_rate(THB, KWD, NOW)
    with pytest.raises(RateUnavailable, match="KWD"):
        ecb.mid_rate(KWD, THB, NOW)


def test_codes_are_accepted_as_strings(ecb: EcbXmlRateSource) -> None:
    assert ecb.mid_rate("THB", "CNY", NOW) == ecb.mid_rate(THB, CNY, NOW)
    with pytest.raises(UnsupportedCurrency):
        ecb.mid_rate("thb", CNY, NOW)


@settings(max_examples=200)
@given(st.sampled_from(sorted(ECB_RATES)), st.sampled_from(sorted(ECB_RATES)))
def test_cross_rates_match_fraction_reference(base: str, quote: str) -> None:
    source = EcbXmlRateSource.from_file(default_ecb_file())
    try:
        base_cur, quote_cur = get_currency(base), get_currency(quote)
    except UnsupportedCurrency:
        assert "HRK" in (base, quote)  # the kuna left ISO 4217 List One in 2023
        return
    rate = source.mid_rate(base_cur, quote_cur, NOW).rate
    if base == quote:
        assert rate == 1
    else:
        assert Fraction(rate) == ref_mid(Fraction(ECB_RATES[quote]), Fraction(ECB_RATES[base]))
    assert len(rate.as_tuple().digits) <= 10


def test_max_age() -> None:
    data = default_ecb_file().read_bytes()
    source = EcbXmlRateSource.from_bytes(data, max_age=timedelta(hours=30))
    assert source.mid_rate(THB, CNY, ECB_AS_OF + timedelta(hours=30)).rate
    with pytest.raises(RateUnavailable, match="older"):
        source.mid_rate(THB, CNY, ECB_AS_OF + timedelta(hours=30, microseconds=1))
    # A 1:1 rate involves no published rate and is never stale.
    assert source.mid_rate(THB, THB, NOW).rate == 1


def test_never_stale_without_max_age(ecb: EcbXmlRateSource) -> None:
    assert ecb.mid_rate(THB, CNY, datetime(2100, 1, 1, tzinfo=UTC)).rate


def test_naive_now_is_a_bug(ecb: EcbXmlRateSource) -> None:
    with pytest.raises(ValueError, match="aware"):
        ecb.mid_rate(THB, CNY, datetime(2026, 1, 1))


ENVELOPE = b"""<?xml version="1.0" encoding="UTF-8"?>
<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01"
                 xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">
  <gesmes:subject>Reference rates</gesmes:subject>
  <Cube>%s</Cube>
</gesmes:Envelope>"""


def envelope(cubes: str) -> bytes:
    return ENVELOPE % cubes.encode()


def test_historic_file_uses_the_latest_day() -> None:
    source = EcbXmlRateSource.from_bytes(
        envelope(
            "<Cube time='2022-07-07'><Cube currency='THB' rate='36.000'/></Cube>"
            "<Cube time='2022-07-08'><Cube currency='THB' rate='36.602'/></Cube>"
            "<Cube time='2022-07-06'><Cube currency='THB' rate='35.000'/></Cube>"
        )
    )
    assert source.as_of == ECB_AS_OF
    assert source.mid_rate(EUR, THB, NOW).rate == Decimal("36.602")


def test_winter_date_is_cet() -> None:
    source = EcbXmlRateSource.from_bytes(
        envelope("<Cube time='2024-01-15'><Cube currency='THB' rate='38.1'/></Cube>")
    )
    assert source.as_of.utcoffset() == timedelta(hours=1)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not xml",
        b"<Envelope/>",
        envelope(""),
        envelope("<Cube time='2022-13-01'><Cube currency='THB' rate='36.6'/></Cube>"),
        envelope("<Cube time='2022-07-08'><Cube currency='THB' rate='3.6e1'/></Cube>"),
        envelope("<Cube time='2022-07-08'><Cube currency='THB' rate='-36.6'/></Cube>"),
        envelope("<Cube time='2022-07-08'><Cube currency='THB' rate='0'/></Cube>"),
        envelope("<Cube time='2022-07-08'><Cube currency='thb' rate='36.6'/></Cube>"),
        envelope("<Cube time='2022-07-08'><Cube rate='36.6'/></Cube>"),
        envelope("<Cube time='2022-07-08'><Cube currency='EUR' rate='1.1'/></Cube>"),
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>',
    ],
)
def test_malformed_ecb_data(data: bytes) -> None:
    with pytest.raises((RateUnavailable, InvalidAmount)):
        EcbXmlRateSource.from_bytes(data)


def test_static_source_handles_all_exponents() -> None:
    source = StaticRateSource(
        {"THB": "36.602", "KWD": Decimal("0.3125"), "JPY": "138.05", "KRW": "1321.61"},
        as_of=ECB_AS_OF,
    )
    assert source.name == "static"
    assert isinstance(source, RateSource)
    assert source.mid_rate(JPY, KRW, NOW).rate == Decimal("9.573415429")
    thb_kwd = source.mid_rate(THB, KWD, NOW)
    assert Fraction(thb_kwd.rate) == ref_mid(Fraction("0.3125"), Fraction("36.602"))
    assert thb_kwd.source == "static"
    assert source.mid_rate(EUR, KWD, NOW).rate == Decimal("0.3125")


def test_static_source_name_and_max_age() -> None:
    source = StaticRateSource({"THB": "36.602"}, as_of=ECB_AS_OF, max_age=timedelta(0), name="demo")
    assert source.mid_rate(EUR, THB, ECB_AS_OF).source == "demo"
    with pytest.raises(RateUnavailable):
        source.mid_rate(EUR, THB, ECB_AS_OF + timedelta(seconds=1))


@pytest.mark.parametrize(
    ("rates", "error"),
    [
        ({"THB": 36.602}, InvalidAmount),
        ({"THB": True}, InvalidAmount),
        ({"THB": "3.6e1"}, InvalidAmount),
        ({"THB": " 36.6"}, InvalidAmount),
        ({"THB": "-1"}, InvalidAmount),
        ({"THB": Decimal(0)}, InvalidAmount),
        ({"THB": Decimal("NaN")}, InvalidAmount),
        ({"EUR": "1.1"}, InvalidAmount),
        ({"XAU": "0.0005"}, UnsupportedCurrency),
        ({"thb": "36.6"}, UnsupportedCurrency),
    ],
)
def test_static_source_rejects(rates: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        StaticRateSource(rates, as_of=ECB_AS_OF)  # type: ignore[arg-type]


def test_static_source_rejects_naive_as_of_and_bad_max_age() -> None:
    with pytest.raises(ValueError):
        StaticRateSource({"THB": "36.6"}, as_of=datetime(2022, 7, 8))
    with pytest.raises(ValueError):
        StaticRateSource({"THB": "36.6"}, as_of=ECB_AS_OF, max_age=timedelta(seconds=-1))


def test_mid_rate_validation() -> None:
    with pytest.raises(InvalidAmount, match="significant"):
        MidRate(THB, CNY, Decimal("0.18604174635"), ECB_AS_OF, "ecb")
    with pytest.raises(InvalidAmount):
        MidRate(THB, CNY, Decimal(0), ECB_AS_OF, "ecb")
    with pytest.raises(InvalidAmount):
        MidRate(THB, CNY, 0.186, ECB_AS_OF, "ecb")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        MidRate(THB, CNY, Decimal("0.186"), datetime(2022, 7, 8), "ecb")


def test_direct_construction_validates_rates() -> None:
    source = EcbXmlRateSource({"THB": Decimal("36.602")}, ECB_AS_OF)
    assert source.mid_rate(EUR, THB, NOW).rate == Decimal("36.602")
    with pytest.raises(InvalidAmount):
        EcbXmlRateSource({"THB": 36.602}, ECB_AS_OF)  # type: ignore[dict-item]
