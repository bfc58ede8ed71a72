"""Rate sets: ECB file parsing, content-addressed ids, cross rates and rate moves."""

import dataclasses
import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from decimal import ROUND_FLOOR, Decimal, localcontext
from fractions import Fraction
from typing import cast
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fx import (
    InvalidAmount,
    MidRate,
    RateSet,
    RateUnavailable,
    UnsupportedCurrency,
    default_ecb_file,
    format_rate,
    get_currency,
    largest_move,
    parse_ecb_xml,
)

BERLIN = ZoneInfo("Europe/Berlin")
ECB_AS_OF = datetime(2022, 7, 8, 16, 0, tzinfo=BERLIN)
ECB_RATES = {
    "USD": "1.0163", "JPY": "138.05", "BGN": "1.9558", "CZK": "24.614", "DKK": "7.4424",
    "GBP": "0.84585", "HUF": "402.45", "PLN": "4.7630", "RON": "4.9431", "SEK": "10.6665",
    "CHF": "0.9913", "ISK": "139.50", "NOK": "10.2630", "HRK": "7.5190", "TRY": "17.6026",
    "AUD": "1.4871", "BRL": "5.4345", "CAD": "1.3201", "CNY": "6.8095", "HKD": "7.9769",
    "IDR": "15210.73", "ILS": "3.5325", "INR": "80.5280", "KRW": "1321.61", "MXN": "20.8477",
    "MYR": "4.4992", "NZD": "1.6464", "PHP": "56.882", "SGD": "1.4228", "THB": "36.602",
    "ZAR": "17.1922",
}  # fmt: skip
THB, CNY, KWD, JPY, KRW, EUR, USD = (
    get_currency(c) for c in ("THB", "CNY", "KWD", "JPY", "KRW", "EUR", "USD")
)


def ref_sig10(exact: Fraction) -> Fraction:
    """`exact` rounded half-up to 10 significant digits, in integers only."""
    exponent = 0
    while exact * Fraction(10) ** exponent >= 10**10:
        exponent -= 1
    while exact * Fraction(10) ** exponent < 10**9:
        exponent += 1
    scale = Fraction(10) ** exponent
    return Fraction(math.floor(exact * scale + Fraction(1, 2))) / scale


def ref_trunc50(exact: Fraction) -> Fraction:
    """`exact` (>= 0) truncated to 50 significant digits."""
    if exact == 0:
        return exact
    exponent = 0
    while exact * Fraction(10) ** exponent >= 10**50:
        exponent -= 1
    while exact * Fraction(10) ** exponent < 10**49:
        exponent += 1
    scale = Fraction(10) ** exponent
    return Fraction(math.floor(exact * scale)) / scale


def rate_set(
    rates: Mapping[str, str | Decimal],
    published_at: datetime = ECB_AS_OF,
    source: str = "ecb",
    base: str = "EUR",
) -> RateSet:
    # Plain decimal strings are accepted (and documented); the field is typed as it is held.
    return RateSet(source, get_currency(base), cast(Mapping[str, Decimal], rates), published_at)


@pytest.fixture(scope="module")
def ecb() -> RateSet:
    return parse_ecb_xml(default_ecb_file().read_bytes())


def test_shipped_file(ecb: RateSet) -> None:
    assert default_ecb_file().name == "ecb-eurofxref-2022-07-08.xml"
    assert default_ecb_file().is_file()
    assert ecb.source == "ecb"
    assert ecb.base == EUR
    assert ecb.published_at == ECB_AS_OF
    assert ecb.published_at.utcoffset() == timedelta(hours=2)  # CEST in July
    assert ecb.published_at.astimezone(UTC) == datetime(2022, 7, 8, 14, 0, tzinfo=UTC)
    expected = {code: Decimal(text) for code, text in ECB_RATES.items()} | {"EUR": Decimal(1)}
    assert dict(ecb.rates) == expected
    assert list(ecb.rates) == sorted(expected)
    assert ecb.id.startswith("rs_") and len(ecb.id) == 3 + 32
    # The same content, however it was obtained, is the same set.
    assert ecb.id == rate_set(dict(ECB_RATES)).id
    assert ecb == rate_set(dict(ECB_RATES))
    assert ecb.id in repr(ecb) and "currencies=32" in repr(ecb)


def test_source_name_is_a_parameter_and_validated() -> None:
    data = default_ecb_file().read_bytes()
    mirror = parse_ecb_xml(bytearray(data), source="ecb-mirror")  # type: ignore[arg-type]
    assert mirror.source == "ecb-mirror"
    assert mirror.id != parse_ecb_xml(data).id
    for bad in ("", "ECB", "-ecb", "a" * 33, "ecb mirror"):
        with pytest.raises(ValueError, match="source"):
            parse_ecb_xml(data, source=bad)
    with pytest.raises(TypeError):
        parse_ecb_xml(data.decode())  # type: ignore[arg-type]


def test_worked_example_thb_to_cny(ecb: RateSet) -> None:
    mid = ecb.mid_rate(THB, CNY)
    assert Fraction(mid.rate) == ref_sig10(Fraction("6.8095") / Fraction("36.602"))
    assert format_rate(mid.rate) == "0.1860417464"
    assert mid == MidRate(THB, CNY, Decimal("0.1860417464"), ECB_AS_OF, "ecb", ecb.id)
    assert mid.rate_set == ecb.id


def test_eur_legs(ecb: RateSet) -> None:
    assert ecb.mid_rate(EUR, THB).rate == Decimal("36.602")
    assert ecb.mid_rate(EUR, KRW).rate == Decimal("1321.61")
    assert Fraction(ecb.mid_rate(THB, EUR).rate) == ref_sig10(Fraction(1) / Fraction("36.602"))
    assert ecb.has(EUR) and ecb.has(THB) and not ecb.has(KWD)


def test_same_currency_is_one_when_listed(ecb: RateSet) -> None:
    assert ecb.mid_rate(THB, THB).rate == 1
    assert ecb.mid_rate(EUR, EUR).rate == 1
    # A set prices only what it lists, even 1:1 (the gateway never asks for a same-currency rate).
    with pytest.raises(RateUnavailable, match="KWD"):
        ecb.mid_rate(KWD, KWD)


def test_missing_currency_names_it(ecb: RateSet) -> None:
    with pytest.raises(RateUnavailable, match="ecb has no rate for KWD"):
        ecb.mid_rate(THB, KWD)
    with pytest.raises(RateUnavailable, match="KWD"):
        ecb.mid_rate(KWD, THB)


def test_codes_are_accepted_as_strings(ecb: RateSet) -> None:
    assert ecb.mid_rate("THB", "CNY") == ecb.mid_rate(THB, CNY)
    with pytest.raises(UnsupportedCurrency):
        ecb.mid_rate("thb", CNY)
    # The ECB lists HRK, which left ISO 4217 List One in 2023: held, but not a payment currency.
    assert "HRK" in ecb.rates
    with pytest.raises(UnsupportedCurrency):
        ecb.mid_rate("HRK", "EUR")


@settings(max_examples=200)
@given(st.sampled_from(sorted(ECB_RATES)), st.sampled_from(sorted(ECB_RATES)))
def test_cross_rates_match_fraction_reference(base: str, quote: str) -> None:
    source = parse_ecb_xml(default_ecb_file().read_bytes())
    try:
        base_cur, quote_cur = get_currency(base), get_currency(quote)
    except UnsupportedCurrency:
        assert "HRK" in (base, quote)
        return
    rate = source.mid_rate(base_cur, quote_cur).rate
    if base == quote:
        assert rate == 1
    else:
        assert Fraction(rate) == ref_sig10(Fraction(ECB_RATES[quote]) / Fraction(ECB_RATES[base]))
    assert len(rate.as_tuple().digits) <= 10


def test_cross_rate_ties_round_half_up() -> None:
    # 2.000000001 / 2 = 1.0000000005 exactly: half-up gives ...001 where half-even would give 1.
    rates = rate_set({"USD": "2", "THB": "2.000000001"})
    assert rates.mid_rate(USD, THB).rate == Decimal("1.000000001")
    # ... and the tie is decided on the exact quotient, not on a rounded one.
    rates = rate_set({"USD": "3", "THB": "3.0000000014999999999999999999999999999999999999999999"})
    assert rates.mid_rate(USD, THB).rate == Decimal("1")


def test_cross_rates_through_another_base() -> None:
    pegs = rate_set({"HKD": "7.8", "SAR": "3.75"}, source="pegs", base="USD")
    assert pegs.rates["USD"] == 1
    assert pegs.mid_rate("HKD", "SAR").rate == Decimal("0.4807692308")
    assert pegs.mid_rate("USD", "HKD").rate == Decimal("7.8")
    with pytest.raises(RateUnavailable, match="EUR"):
        pegs.mid_rate("EUR", "USD")


ENVELOPE = b"""<?xml version="1.0" encoding="UTF-8"?>
<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01"
                 xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">
  <gesmes:subject>Reference rates</gesmes:subject>
  <Cube>%s</Cube>
</gesmes:Envelope>"""


def envelope(cubes: str) -> bytes:
    return ENVELOPE % cubes.encode()


def day(when: str, *entries: str) -> str:
    return f"<Cube time='{when}'>{''.join(entries)}</Cube>"


def test_historic_file_uses_the_latest_day() -> None:
    historic = parse_ecb_xml(
        envelope(
            day("2022-07-07", "<Cube currency='THB' rate='36.000'/>")
            + day("2022-07-08", "<Cube currency='THB' rate='36.602'/>")
            + day("2022-07-06", "<Cube currency='THB' rate='35.000'/>")
        )
    )
    assert historic.published_at == ECB_AS_OF
    assert historic.mid_rate(EUR, THB).rate == Decimal("36.602")
    daily = parse_ecb_xml(envelope(day("2022-07-08", "<Cube currency='THB' rate='36.602'/>")))
    assert historic.id == daily.id


@pytest.mark.parametrize(
    ("when", "offset"),
    [("2024-01-15", 1), ("2024-03-28", 1), ("2024-04-02", 2), ("2024-10-25", 2), ("2024-10-28", 1)],
)
def test_published_at_16_00_berlin_cet_or_cest(when: str, offset: int) -> None:
    rates = parse_ecb_xml(envelope(day(when, "<Cube currency='THB' rate='38.1'/>")))
    assert rates.published_at.astimezone(BERLIN).time().isoformat() == "16:00:00"
    assert rates.published_at.date().isoformat() == when
    assert rates.published_at.utcoffset() == timedelta(hours=offset)
    assert rates.published_at.astimezone(UTC).hour == 16 - offset


def dtd_in_utf16() -> bytes:
    text = (ENVELOPE % day("2022-07-08", "<Cube currency='THB' rate='&r;'/>").encode()).decode()
    text = text.replace("UTF-8", "UTF-16").replace(
        "\n<gesmes:Envelope", '\n<!DOCTYPE x [<!ENTITY r "36.6">]>\n<gesmes:Envelope', 1
    )
    return text.encode("utf-16")


THB_ON = "<Cube currency='THB' rate='36.6'/>"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"not xml", id="not-xml"),
        pytest.param(b"<Envelope/>", id="root-without-namespace"),
        pytest.param(
            ENVELOPE.replace(b'2002-08-01"\n', b'2002-08-02"\n', 1)
            % day("2022-07-08", THB_ON).encode(),
            id="root-in-another-namespace",
        ),
        pytest.param(envelope(""), id="no-day"),
        pytest.param(envelope("<Cube><Cube currency='THB' rate='36.6'/></Cube>"), id="undated"),
        pytest.param(envelope(day("2022-13-01", THB_ON)), id="month-13"),
        pytest.param(envelope(day("2022-02-30", THB_ON)), id="feb-30"),
        pytest.param(envelope(day("", THB_ON)), id="empty-date"),
        pytest.param(envelope(day("8 July 2022", THB_ON)), id="prose-date"),
        pytest.param(
            envelope(day("2022-07-08", THB_ON) + day("2022-07-07x", THB_ON)), id="one-bad-date"
        ),
        pytest.param(envelope(day("2022-07-08")), id="day-without-rates"),
        pytest.param(envelope(day("2022-07-08", "<Cube currency='THB' rate='3.6e1'/>")), id="exp"),
        pytest.param(envelope(day("2022-07-08", "<Cube currency='THB' rate='-36.6'/>")), id="neg"),
        pytest.param(envelope(day("2022-07-08", "<Cube currency='THB' rate='+36.6'/>")), id="+"),
        pytest.param(envelope(day("2022-07-08", "<Cube currency='THB' rate='0'/>")), id="zero"),
        pytest.param(envelope(day("2022-07-08", "<Cube currency='THB' rate='0.000'/>")), id="0.0"),
        pytest.param(envelope(day("2022-07-08", "<Cube currency='THB' rate=' 36.6'/>")), id="sp"),
        pytest.param(envelope(day("2022-07-08", "<Cube currency='THB' rate='36,6'/>")), id=","),
        pytest.param(envelope(day("2022-07-08", "<Cube currency='THB' rate='36.'/>")), id="36."),
        pytest.param(envelope(day("2022-07-08", "<Cube currency='THB' rate='NaN'/>")), id="nan"),
        pytest.param(
            envelope(day("2022-07-08", "<Cube currency='THB' rate='&#x0663;'/>")), id="digit"
        ),
        pytest.param(envelope(day("2022-07-08", "<Cube currency='THB' rate=''/>")), id="blank"),
        pytest.param(envelope(day("2022-07-08", "<Cube currency='thb' rate='36.6'/>")), id="thb"),
        pytest.param(envelope(day("2022-07-08", "<Cube currency='TH' rate='36.6'/>")), id="TH"),
        pytest.param(envelope(day("2022-07-08", "<Cube rate='36.6'/>")), id="no-currency"),
        pytest.param(envelope(day("2022-07-08", "<Cube currency='THB'/>")), id="no-rate"),
        pytest.param(envelope(day("2022-07-08", THB_ON, THB_ON)), id="duplicate-currency"),
        pytest.param(
            envelope(day("2022-07-08", THB_ON, "<Cube currency='THB' rate='36.7'/>")),
            id="duplicate-currency-differing",
        ),
        pytest.param(
            envelope(day("2022-07-08", THB_ON, "<Cube currency='EUR' rate='1'/>")), id="eur-is-1"
        ),
        pytest.param(envelope(day("2022-07-08", "<Cube currency='EUR' rate='1.1'/>")), id="eur"),
        pytest.param(b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>', id="dtd"),
        pytest.param(
            b'<?xml version="1.0"?>\n<!DOCTYPE x SYSTEM "http://example.com/x.dtd"><x/>',
            id="external-dtd",
        ),
        pytest.param(dtd_in_utf16(), id="dtd-in-utf-16"),
    ],
)
def test_malformed_ecb_data_is_refused(data: bytes) -> None:
    with pytest.raises(RateUnavailable):
        parse_ecb_xml(data)


def test_utf16_without_a_dtd_is_fine() -> None:
    text = envelope(day("2022-07-08", THB_ON)).decode().replace("UTF-8", "UTF-16")
    assert parse_ecb_xml(text.encode("utf-16")).rates["THB"] == Decimal("36.6")


# RateSet itself.


def test_id_is_stable_whatever_the_rate_text() -> None:
    reference = rate_set({"THB": "36.6", "CNY": "6.8095"})
    assert reference.canonical() == (
        b"source=ecb\nbase=EUR\npublished_at=2022-07-08T14:00:00+00:00\nCNY=6.8095\nEUR=1\nTHB=36.6"
    )
    for same in (
        {"THB": "36.60", "CNY": "6.8095"},
        {"CNY": "6.80950", "THB": "36.600"},
        {"THB": Decimal("36.6"), "CNY": Decimal("6.8095")},
        {"THB": Decimal("3.660E+1"), "CNY": Decimal("6809.5E-3")},
        {"THB": "36.6", "CNY": "6.8095", "EUR": "1"},
        {"THB": "36.6", "CNY": "6.8095", "EUR": "1.000"},
        {"THB": "36.6", "CNY": "6.8095", "EUR": Decimal("1E0")},
    ):
        other = rate_set(same)  # type: ignore[arg-type]
        assert other.id == reference.id, same
        assert other.canonical() == reference.canonical()
        assert other == reference


def test_id_is_of_the_instant_not_its_zone() -> None:
    reference = rate_set({"THB": "36.6"})
    for same in (
        ECB_AS_OF.astimezone(UTC),
        ECB_AS_OF.astimezone(ZoneInfo("Asia/Bangkok")),
        ECB_AS_OF.astimezone(timezone(timedelta(hours=-3, minutes=-30))),
        datetime(2022, 7, 8, 14, 0, tzinfo=UTC),
    ):
        assert rate_set({"THB": "36.6"}, published_at=same).id == reference.id


@pytest.mark.parametrize(
    "change",
    [
        {"source": "ecb-mirror"},
        {"published_at": ECB_AS_OF + timedelta(microseconds=1)},
        {"published_at": ECB_AS_OF - timedelta(days=1)},
        # The same wall time in another zone is another instant.
        {"published_at": ECB_AS_OF.replace(tzinfo=UTC)},
        {"rates": {"THB": "36.61", "CNY": "6.8095"}},
        {"rates": {"THB": "36.6", "CNY": "6.80950001"}},
        {"rates": {"THB": "36.6"}},
        {"rates": {"THB": "36.6", "CNY": "6.8095", "KWD": "0.3125"}},
        {"rates": {"THB": "36.6", "CNH": "6.8095"}},
        {"base": "USD", "rates": {"THB": "36.6", "CNY": "6.8095"}},
    ],
)
def test_id_differs_when_the_content_does(change: dict[str, object]) -> None:
    fields: dict[str, object] = {
        "rates": {"THB": "36.6", "CNY": "6.8095"},
        "published_at": ECB_AS_OF,
        "source": "ecb",
        "base": "EUR",
    }
    reference = rate_set(**fields)  # type: ignore[arg-type]
    changed = rate_set(**(fields | change))  # type: ignore[arg-type]
    assert changed.id != reference.id
    assert changed.canonical() != reference.canonical()
    assert changed != reference


def test_rates_are_read_only_and_copied() -> None:
    given_rates: dict[str, str | Decimal] = {"THB": "36.6"}
    rates = rate_set(given_rates)
    with pytest.raises(TypeError):
        rates.rates["THB"] = Decimal("1")  # type: ignore[index]
    with pytest.raises(TypeError):
        del rates.rates["THB"]  # type: ignore[attr-defined]
    given_rates["THB"] = "99"
    given_rates["CNY"] = "6.8"
    assert dict(rates.rates) == {"EUR": 1, "THB": Decimal("36.6")}
    with pytest.raises(dataclasses.FrozenInstanceError):
        rates.id = "rs_forged"  # type: ignore[misc]
    with pytest.raises(TypeError):
        RateSet("ecb", EUR, {"THB": Decimal(1)}, ECB_AS_OF, id="rs_forged")  # type: ignore[call-arg]


def test_base_rate_is_one() -> None:
    assert rate_set({"THB": "36.6"}).rates["EUR"] == 1
    assert rate_set({"THB": "36.6", "EUR": "1.0"}).rates["EUR"] == 1
    assert rate_set({"JPY": "140"}, base="USD").rates["USD"] == 1
    for bad in ("1.1", "0.9999999999", Decimal("1.0000000000000000000000000001")):
        with pytest.raises(InvalidAmount, match="EUR is the base"):
            rate_set({"THB": "36.6", "EUR": bad})
    # EUR is an ordinary currency in a USD-based set.
    assert rate_set({"EUR": "0.9"}, base="USD").mid_rate("USD", "EUR").rate == Decimal("0.9")


def test_codes_need_not_be_payment_currencies() -> None:
    rates = rate_set({"THB": "36.6", "XAU": "0.0005", "HRK": "7.519"})
    assert set(rates.rates) == {"EUR", "THB", "XAU", "HRK"}
    with pytest.raises(UnsupportedCurrency):
        rates.mid_rate("XAU", "THB")


@pytest.mark.parametrize(
    ("rates", "error"),
    [
        ({"THB": 36.602}, InvalidAmount),
        ({"THB": 36}, InvalidAmount),
        ({"THB": True}, InvalidAmount),
        ({"THB": None}, InvalidAmount),
        ({"THB": "3.6e1"}, InvalidAmount),
        ({"THB": " 36.6"}, InvalidAmount),
        ({"THB": "36.6 "}, InvalidAmount),
        ({"THB": "036.6"}, InvalidAmount),
        ({"THB": ".5"}, InvalidAmount),
        ({"THB": "-1"}, InvalidAmount),
        ({"THB": "0"}, InvalidAmount),
        ({"THB": Decimal(0)}, InvalidAmount),
        ({"THB": Decimal("-36.6")}, InvalidAmount),
        ({"THB": Decimal("NaN")}, InvalidAmount),
        ({"THB": Decimal("Infinity")}, InvalidAmount),
        ({"EUR": "1.1"}, InvalidAmount),
        ({"thb": "36.6"}, InvalidAmount),
        ({"THBX": "36.6"}, InvalidAmount),
        ({764: "36.6"}, InvalidAmount),
        ([("THB", "36.6")], TypeError),
    ],
)
def test_rate_set_rejects(rates: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        RateSet("ecb", EUR, rates, ECB_AS_OF)  # type: ignore[arg-type]


THB_36_6 = {"THB": Decimal("36.6")}


def test_rate_set_rejects_bad_source_base_and_time() -> None:
    with pytest.raises(ValueError, match="aware"):
        RateSet("ecb", EUR, THB_36_6, datetime(2022, 7, 8, 16, 0))
    with pytest.raises(TypeError):
        RateSet("ecb", EUR, THB_36_6, ECB_AS_OF.date())  # type: ignore[arg-type]
    with pytest.raises(UnsupportedCurrency):
        RateSet("ecb", "XAU", THB_36_6, ECB_AS_OF)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="source"):
        RateSet("", EUR, THB_36_6, ECB_AS_OF)
    with pytest.raises(ValueError, match="source"):
        RateSet(None, EUR, THB_36_6, ECB_AS_OF)  # type: ignore[arg-type]


def test_mid_rate_validation() -> None:
    with pytest.raises(InvalidAmount, match="significant"):
        MidRate(THB, CNY, Decimal("0.18604174635"), ECB_AS_OF, "ecb")
    with pytest.raises(InvalidAmount):
        MidRate(THB, CNY, Decimal(0), ECB_AS_OF, "ecb")
    with pytest.raises(InvalidAmount):
        MidRate(THB, CNY, 0.186, ECB_AS_OF, "ecb")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        MidRate(THB, CNY, Decimal("0.186"), datetime(2022, 7, 8), "ecb")
    with pytest.raises(TypeError):
        MidRate("THB", CNY, Decimal("0.186"), ECB_AS_OF, "ecb")  # type: ignore[arg-type]
    assert MidRate(THB, CNY, Decimal("0.186"), ECB_AS_OF, "ecb").rate_set is None


# largest_move


def test_largest_move_is_exact() -> None:
    old = rate_set({"THB": "40", "CNY": "6.8095", "USD": "1.0163", "KWD": "0.3125"})
    new = rate_set(
        {"THB": "41", "CNY": "6.8095", "USD": "1.0200", "JPY": "140"},
        published_at=ECB_AS_OF + timedelta(days=1),
    )
    assert largest_move(old, new) == ("THB", Decimal("0.025"))
    # A fall counts as much as a rise; 1/3 is not a finite decimal: 50 significant digits.
    new = rate_set({"THB": "40", "CNY": "4.5396666666"}, published_at=new.published_at)
    move = largest_move(old, new)
    assert move is not None and move[0] == "CNY"
    exact = abs(Fraction("4.5396666666") / Fraction("6.8095") - 1)
    assert Fraction(move[1]) == ref_trunc50(exact)
    assert len(move[1].as_tuple().digits) == 50


def test_largest_move_ignores_the_ambient_decimal_context() -> None:
    old = rate_set({"THB": "3"})
    new = rate_set({"THB": "1"}, published_at=ECB_AS_OF + timedelta(days=1))
    expected = ("THB", Decimal("0." + "6" * 50))
    assert largest_move(old, new) == expected
    with localcontext(prec=4, rounding=ROUND_FLOOR):
        assert largest_move(old, new) == expected


def test_largest_move_edge_cases() -> None:
    old = rate_set({"THB": "36.6"})
    assert largest_move(old, rate_set({"THB": "36.600"})) == ("THB", Decimal(0))
    assert largest_move(old, rate_set({"CNY": "6.8"})) is None  # only EUR in common
    assert largest_move(old, old) == ("THB", Decimal(0))
    with pytest.raises(ValueError, match="bases"):
        largest_move(old, rate_set({"THB": "36.6"}, base="USD"))


positive_rates = st.builds(
    lambda digits, exponent: Decimal(f"{digits}E{exponent}"),
    st.integers(min_value=1, max_value=10**10 - 1),
    st.integers(min_value=-12, max_value=2),
)


@settings(max_examples=200)
@given(
    st.dictionaries(
        st.sampled_from(["THB", "CNY", "KWD", "JPY"]),
        st.tuples(positive_rates, positive_rates),
        min_size=1,
    )
)
def test_largest_move_matches_fraction_reference(pairs: dict[str, tuple[Decimal, Decimal]]) -> None:
    old = rate_set({code: was for code, (was, _) in pairs.items()})
    new = rate_set({code: now for code, (_, now) in pairs.items()})
    exact = {code: abs(Fraction(now) / Fraction(was) - 1) for code, (was, now) in pairs.items()}
    move = largest_move(old, new)
    assert move is not None
    code, size = move
    assert Fraction(size) == ref_trunc50(exact[code])
    assert all(ref_trunc50(exact[code]) >= ref_trunc50(other) for other in exact.values())
