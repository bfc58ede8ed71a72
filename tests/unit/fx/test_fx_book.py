"""The rate book: priority, fallback, staleness on each source's calendar, and the exact
arithmetic of cross rates and payer amounts (properties)."""

import itertools
import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import cast
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fx import (
    MAX_AMOUNT,
    Currency,
    EcbCalendar,
    FixedAge,
    InvalidAmount,
    Money,
    RateBook,
    RateSet,
    RateSource,
    RateUnavailable,
    SourceState,
    UnsupportedCurrency,
    get_currency,
    make_quote,
    payment_currencies,
)

BERLIN = ZoneInfo("Europe/Berlin")
EUR, USD, THB, CNY, KWD, HKD, SAR = (
    get_currency(c) for c in ("EUR", "USD", "THB", "CNY", "KWD", "HKD", "SAR")
)
FRIDAY = datetime(2026, 12, 4, 16, 0, tzinfo=BERLIN)  # CET, UTC+1
MONDAY_DUE = datetime(2026, 12, 7, 16, 0, tzinfo=BERLIN)
GRACE = timedelta(hours=2)
TICK = timedelta(microseconds=1)


def ref_half_up(x: Fraction) -> int:
    return math.floor(x + Fraction(1, 2)) if x >= 0 else -math.floor(-x + Fraction(1, 2))


def ref_sig10(x: Fraction) -> Fraction:
    """Half-up to 10 significant digits, in integers only."""
    exponent = 0
    while x * Fraction(10) ** exponent >= 10**10:
        exponent -= 1
    while x * Fraction(10) ** exponent < 10**9:
        exponent += 1
    scale = Fraction(10) ** exponent
    return Fraction(ref_half_up(x * scale)) / scale


def rate_set(
    source: str,
    rates: Mapping[str, str | Decimal],
    published_at: datetime,
    base: Currency = EUR,
) -> RateSet:
    # Plain decimal strings are accepted (and documented); the field is typed as it is held.
    return RateSet(source, base, cast(Mapping[str, Decimal], rates), published_at)


ECB_FRIDAY = rate_set("ecb", {"THB": "36.602", "CNY": "6.8095", "USD": "1.0163"}, FRIDAY)
PARTNER = rate_set(
    "partner", {"THB": "36.5", "CNY": "6.81"}, datetime(2026, 12, 7, 17, 0, tzinfo=UTC)
)
PEGS = rate_set(
    "pegs", {"HKD": "7.8", "SAR": "3.75", "KWD": "0.307", "EUR": "0.9"}, FRIDAY, base=USD
)


def make_book() -> RateBook:
    return RateBook(
        [
            ("ecb", EcbCalendar(grace=GRACE)),
            ("partner", FixedAge(timedelta(hours=1))),
            ("pegs", None),
        ]
    )


def full_book() -> RateBook:
    book = make_book()
    for rates in (ECB_FRIDAY, PARTNER, PEGS):
        assert book.install(rates)
    return book


# Priority and fallback.


def test_the_first_fresh_source_prices() -> None:
    book = full_book()
    now = datetime(2026, 12, 7, 17, 30, tzinfo=UTC)  # Monday 18:30 CET: ECB fresh until 18:00
    assert book.mid_rate(THB, CNY, now - timedelta(hours=1)) == ECB_FRIDAY.mid_rate(THB, CNY)
    mid = book.mid_rate(THB, CNY, now)
    assert mid.source == "partner"
    assert mid.rate_set == PARTNER.id
    assert mid.as_of == PARTNER.published_at
    assert mid == PARTNER.mid_rate(THB, CNY)
    assert mid.rate == Decimal("0.1865753425")  # 6.81 / 36.5


def test_the_primary_missing_a_currency_falls_back() -> None:
    book = full_book()
    now = FRIDAY + timedelta(hours=1)
    mid = book.mid_rate(THB, CNY, now)
    assert (mid.source, mid.rate_set) == ("ecb", ECB_FRIDAY.id)
    # Neither ECB nor the partner lists HKD or KWD: the USD-based pegs do, crossing through USD.
    mid = book.mid_rate("HKD", "KWD", now)
    assert (mid.source, mid.rate_set) == ("pegs", PEGS.id)
    assert Fraction(mid.rate) == ref_sig10(Fraction("0.307") / Fraction("7.8"))
    # One currency in ECB and the other only in the pegs: a pair is never mixed across sources.
    mid = book.mid_rate(EUR, HKD, now)
    assert mid.source == "pegs" and Fraction(mid.rate) == ref_sig10(
        Fraction("7.8") / Fraction("0.9")
    )
    # Codes as strings, checked like everywhere else.
    with pytest.raises(UnsupportedCurrency):
        book.mid_rate("thb", "CNY", now)


def test_a_book_is_a_rate_source() -> None:
    book = full_book()
    source: RateSource = book  # mypy checks the structure...
    assert isinstance(source, RateSource)  # ...and so does the runtime protocol
    assert source.mid_rate(THB, CNY, FRIDAY).rate_set == ECB_FRIDAY.id


def test_every_source_stale_or_empty_names_each_reason() -> None:
    book = make_book()
    book.install(ECB_FRIDAY)
    book.install(PARTNER)
    now = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)
    with pytest.raises(RateUnavailable) as caught:
        book.mid_rate(THB, CNY, now)
    message = str(caught.value)
    assert message.startswith("no fresh rate for THB->CNY: ")
    for reason in (
        "ecb: rates published 2026-12-04T16:00:00+01:00 went stale at 2026-12-07T18:00:00+01:00",
        "partner: rates published 2026-12-07T17:00:00+00:00 went stale at "
        "2026-12-07T18:00:00+00:00",
        "pegs: no rates fetched yet",
    ):
        assert reason in message
    assert message.index("ecb:") < message.index("partner:") < message.index("pegs:")


def test_missing_currencies_are_reasons_too() -> None:
    book = full_book()
    with pytest.raises(RateUnavailable) as caught:
        book.mid_rate(THB, KWD, FRIDAY + timedelta(hours=1))
    message = str(caught.value)
    assert "ecb: no rate for KWD" in message
    assert "partner: no rate for KWD" in message
    assert "pegs: no rate for THB" in message


def test_an_empty_book_and_a_bare_book() -> None:
    book = make_book()
    with pytest.raises(RateUnavailable, match="ecb: no rates fetched yet"):
        book.mid_rate(THB, CNY, FRIDAY)
    assert [book.current(s) for s in book.sources] == [None, None, None]
    assert "'ecb': None" in repr(book)


# install


def test_install_keeps_the_newest_publication() -> None:
    book = make_book()
    assert book.current("ecb") is None
    assert book.install(ECB_FRIDAY) is True
    assert book.current("ecb") is ECB_FRIDAY
    older = rate_set("ecb", {"THB": "36.0"}, FRIDAY - timedelta(days=1))
    assert book.install(older) is False
    # The same set again (even read back in another zone) changes nothing...
    assert book.install(ECB_FRIDAY) is False
    assert book.install(rate_set("ecb", dict(ECB_FRIDAY.rates), FRIDAY.astimezone(UTC))) is False
    assert book.current("ecb") is ECB_FRIDAY
    # ...while the same publication instant with other rates is a correction, and replaces it.
    correction = rate_set("ecb", {"THB": "37"}, FRIDAY.astimezone(UTC))
    assert book.install(correction) is True
    assert book.current("ecb") is correction
    newer = rate_set("ecb", {"THB": "36.7"}, MONDAY_DUE)
    assert book.install(newer) is True
    assert book.current("ecb") is newer
    assert book.install(ECB_FRIDAY) is False
    assert book.current("ecb") is newer
    assert newer.id in repr(book)


def test_install_refuses_unknown_sources() -> None:
    book = make_book()
    with pytest.raises(ValueError, match="no source 'ecb-mirror'"):
        book.install(rate_set("ecb-mirror", {"THB": "36.6"}, FRIDAY))
    assert book.current("ecb") is None


def test_construction() -> None:
    assert make_book().sources == ("ecb", "partner", "pegs")
    with pytest.raises(ValueError, match="twice"):
        RateBook([("ecb", EcbCalendar()), ("ecb", None)])
    with pytest.raises(ValueError, match="at least one"):
        RateBook([])
    with pytest.raises(TypeError, match="calendar"):
        RateBook([("ecb", timedelta(hours=30))])  # type: ignore[list-item]


# Staleness.


def test_a_none_calendar_never_goes_stale() -> None:
    book = RateBook([("pegs", None)])
    book.install(PEGS)
    for now in (FRIDAY, datetime(2100, 1, 1, tzinfo=UTC), FRIDAY - timedelta(days=1)):
        state = book.state("pegs", now)
        assert state.fresh and state.current_until is None
        assert book.mid_rate(HKD, SAR, now).rate == Decimal("0.4807692308")


@pytest.mark.parametrize(
    ("published", "due"),
    [
        (FRIDAY, MONDAY_DUE),  # CET
        (datetime(2026, 7, 3, 16, 0, tzinfo=BERLIN), datetime(2026, 7, 6, 16, 0, tzinfo=BERLIN)),
        (datetime(2026, 4, 2, 16, 0, tzinfo=BERLIN), datetime(2026, 4, 7, 16, 0, tzinfo=BERLIN)),
    ],
    ids=["friday-cet", "friday-cest", "maundy-thursday"],
)
def test_an_ecb_set_is_fresh_until_the_next_publication_plus_grace(
    published: datetime, due: datetime
) -> None:
    book = RateBook([("ecb", EcbCalendar(grace=GRACE))])
    book.install(rate_set("ecb", {"THB": "36.602", "CNY": "6.8095"}, published))
    until = due + GRACE
    for now in (published, published + timedelta(days=1), due, until, until.astimezone(UTC)):
        state = book.state("ecb", now)
        assert state.fresh, now
        assert state.current_until == until
        assert book.mid_rate(THB, CNY, now).source == "ecb"
    for now in (until + TICK, (until + TICK).astimezone(UTC), until + timedelta(days=30)):
        assert not book.state("ecb", now).fresh, now
        with pytest.raises(RateUnavailable, match="went stale"):
            book.mid_rate(THB, CNY, now)


def test_the_friday_boundary_in_utc() -> None:
    book = RateBook([("ecb", EcbCalendar(grace=GRACE))])
    book.install(ECB_FRIDAY)
    assert book.state("ecb", datetime(2026, 12, 7, 17, 0, tzinfo=UTC)).fresh
    assert not book.state("ecb", datetime(2026, 12, 7, 17, 0, 0, 1, tzinfo=UTC)).fresh
    # No grace: stale right after Monday's publication is due.
    strict = RateBook([("ecb", EcbCalendar(grace=timedelta(0)))])
    strict.install(ECB_FRIDAY)
    assert strict.state("ecb", MONDAY_DUE).fresh
    assert not strict.state("ecb", MONDAY_DUE + TICK).fresh


def test_states_and_ages() -> None:
    book = make_book()
    book.install(ECB_FRIDAY)
    book.install(PEGS)
    now = datetime(2026, 12, 7, 17, 30, tzinfo=UTC)
    states = book.states(now)
    assert states == [
        SourceState("ecb", ECB_FRIDAY, MONDAY_DUE + GRACE, fresh=False),
        SourceState("partner", None, None, fresh=False),
        SourceState("pegs", PEGS, None, fresh=True),
    ]
    assert [book.state(s.source, now) for s in states] == states
    ecb, partner, pegs = states
    # Friday 16:00 CET to Monday 17:30 UTC: 3 days and 2.5 hours.
    assert ecb.age_seconds(now) == 3 * 86400 + 2.5 * 3600
    assert ecb.age_seconds(now.astimezone(BERLIN)) == ecb.age_seconds(now)
    assert partner.age_seconds(now) is None
    assert pegs.age_seconds(FRIDAY) == 0.0
    assert ecb.age_seconds(FRIDAY - timedelta(seconds=1)) == -1.0
    with pytest.raises(KeyError):
        book.state("nowhere", now)


def test_naive_now_is_a_bug() -> None:
    book = full_book()
    naive = datetime(2026, 12, 7, 12, 0)
    with pytest.raises(ValueError, match="aware"):
        book.mid_rate(THB, CNY, naive)
    with pytest.raises(ValueError, match="aware"):
        book.state("pegs", naive)
    with pytest.raises(ValueError, match="aware"):
        book.states(naive)


# Properties (issue #14).


@st.composite
def per_eur(draw: st.DrawFn) -> Decimal:
    """A rate as published: 1 to 10 significant digits, 0.001 to 10^6 units per EUR."""
    digits = draw(st.integers(min_value=1, max_value=10))
    mantissa = draw(st.integers(min_value=10 ** (digits - 1), max_value=10**digits - 1))
    magnitude = draw(st.integers(min_value=-3, max_value=5))
    return Decimal(mantissa).scaleb(magnitude - digits + 1)


@st.composite
def exact_ties(draw: st.DrawFn) -> tuple[Decimal, Decimal]:
    """Per-EUR rates a, b whose ratio b/a has exactly 11 significant digits ending in 5."""
    a = Decimal(2 ** draw(st.integers(0, 6)) * 5 ** draw(st.integers(0, 6))).scaleb(
        draw(st.integers(-6, 0))
    )
    tie = Decimal(f"{draw(st.integers(10**9, 10**10 - 1))}5E{draw(st.integers(-14, 0))}")
    return a, a * tie  # the default context's 28 digits hold the product exactly


@settings(max_examples=300)
@given(st.one_of(st.tuples(per_eur(), per_eur()), exact_ties()))
def test_cross_rates_through_eur_equal_the_direct_ratio(pair: tuple[Decimal, Decimal]) -> None:
    a, b = pair  # 1 EUR = a THB = b CNY, so 1 THB = b/a CNY
    rates = RateSet("ecb", EUR, {"THB": a, "CNY": b}, FRIDAY)
    expected = ref_sig10(Fraction(b) / Fraction(a))
    mid = rates.mid_rate(THB, CNY)
    assert Fraction(mid.rate) == expected
    assert Fraction(rates.mid_rate(CNY, THB).rate) == ref_sig10(Fraction(a) / Fraction(b))
    book = RateBook([("ecb", None)])
    book.install(rates)
    assert book.mid_rate(THB, CNY, FRIDAY) == mid


PAYMENT = sorted(payment_currencies())
BY_EXPONENT = {e: [c for c in PAYMENT if get_currency(c).exponent == e] for e in (0, 2, 3, 4)}


def test_exponent_four_is_not_a_payment_currency() -> None:
    # ISO 4217 has two exponent-4 codes, CLF (a fund: Unidad de Fomento) and UYW (an indexed unit
    # of account). Neither is money a tourist pays with, so fx refuses both and the property
    # below covers exponents 0, 2 and 3 only.
    assert BY_EXPONENT[4] == []
    assert {get_currency(c).exponent for c in PAYMENT} == {0, 2, 3}
    for code in ("CLF", "UYW"):
        with pytest.raises(UnsupportedCurrency):
            get_currency(code)


@pytest.mark.parametrize(
    ("merchant_exponent", "payer_exponent"), list(itertools.product((0, 2, 3), repeat=2))
)
@settings(max_examples=60)
@given(data=st.data())
def test_payer_amount_is_half_up_of_amount_times_rate_shifted(
    merchant_exponent: int, payer_exponent: int, data: st.DataObject
) -> None:
    merchant = get_currency(data.draw(st.sampled_from(BY_EXPONENT[merchant_exponent])))
    payer = get_currency(
        data.draw(st.sampled_from([c for c in BY_EXPONENT[payer_exponent] if c != merchant.code]))
    )
    # 1 EUR = a merchant units = b payer units; EUR itself is 1 (the set's base).
    a, b = (
        Decimal(1) if currency == EUR else data.draw(per_eur(), label=f"{currency.code} per EUR")
        for currency in (merchant, payer)
    )
    markup = data.draw(st.integers(min_value=0, max_value=1_000))
    value = data.draw(st.integers(min_value=1, max_value=MAX_AMOUNT))
    rates = RateSet("ecb", EUR, {merchant.code: a, payer.code: b}, FRIDAY)
    mid = rates.mid_rate(merchant, payer)
    rate = ref_sig10(ref_sig10(Fraction(b) / Fraction(a)) * Fraction(10_000 + markup, 10_000))
    shift = Fraction(10) ** (payer.exponent - merchant.exponent)

    def expected(minor: int) -> int:
        return ref_half_up(minor * rate * shift)

    try:
        quote = make_quote(
            id="qt_p",
            amount=Money(value, merchant),
            payer_currency=payer,
            mid=mid,
            markup_bps=markup,
            created_at=FRIDAY,
            lifetime=timedelta(minutes=5),
        )
    except InvalidAmount:
        assert not 1 <= expected(value) <= MAX_AMOUNT
        return
    assert Fraction(quote.rate) == rate
    assert quote.payer_amount == Money(expected(value), payer)
    assert quote.rate_set == rates.id
    part = data.draw(st.integers(min_value=0, max_value=value))
    assert quote.convert(Money(part, merchant)) == Money(expected(part), payer)
