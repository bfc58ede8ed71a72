"""Quotes: anyone can recompute rate and payer amount from what the API shows (API.md)."""

import dataclasses
import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fx import (
    MAX_AMOUNT,
    CurrencyMismatch,
    InvalidAmount,
    MidRate,
    Money,
    Quote,
    QuoteExpired,
    RateSet,
    default_ecb_file,
    format_rate,
    get_currency,
    make_quote,
    parse_ecb_xml,
    quote_rate,
    round_half_up,
)

NOW = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
LIFETIME = timedelta(minutes=5)
THB, CNY, KWD, JPY, KRW, EUR = (get_currency(c) for c in ("THB", "CNY", "KWD", "JPY", "KRW", "EUR"))


def ref_half_up(x: Fraction) -> int:
    return math.floor(x + Fraction(1, 2)) if x >= 0 else -math.floor(-x + Fraction(1, 2))


def ref_sig10(x: Fraction) -> Fraction:
    exponent = 0
    while x * Fraction(10) ** exponent >= 10**10:
        exponent -= 1
    while x * Fraction(10) ** exponent < 10**9:
        exponent += 1
    scale = Fraction(10) ** exponent
    return Fraction(ref_half_up(x * scale)) / scale


@pytest.fixture(scope="module")
def ecb() -> RateSet:
    return parse_ecb_xml(default_ecb_file().read_bytes())


def test_worked_example_recomputed_by_hand(ecb: RateSet) -> None:
    amount = Money.of(125050, "THB")  # 1,250.50 THB
    quote = make_quote(
        id="qt_demo",
        amount=amount,
        payer_currency=CNY,
        mid=ecb.mid_rate(THB, CNY),
        markup_bps=150,
        created_at=NOW,
        lifetime=LIFETIME,
    )
    mid = ref_sig10(Fraction("6.8095") / Fraction("36.602"))
    rate = ref_sig10(mid * Fraction(10_000 + 150, 10_000))
    assert Fraction(quote.mid_rate) == mid
    assert Fraction(quote.rate) == rate
    assert format_rate(quote.mid_rate) == "0.1860417464"
    assert format_rate(quote.rate) == "0.1888323726"
    # payer_amount = round_half_up(amount × rate × 10^(e_payer − e_merchant)), here 10^0.
    assert quote.payer_amount == Money.of(ref_half_up(125050 * rate), "CNY")
    assert quote.payer_amount == Money.of(23613, "CNY")  # 236.13 CNY
    # ... and from the rate string alone, as an integrator would.
    shown = Decimal(format_rate(quote.rate))
    assert quote.payer_amount.value == round_half_up(125050 * shown)
    assert quote.amount == amount
    assert quote.markup_bps == 150
    assert quote.rate_source == "ecb"
    assert quote.rate_as_of == ecb.published_at
    assert quote.rate_set == ecb.id
    assert quote.created_at == NOW
    assert quote.expires_at == NOW + LIFETIME
    assert quote.currency == THB and quote.payer_currency == CNY


@pytest.fixture(scope="module")
def static() -> RateSet:
    rates = {"THB": "36.602", "KWD": "0.3125", "JPY": "138.05", "KRW": "1321.61", "CNY": "6.8095"}
    return RateSet(
        "static", EUR, {c: Decimal(r) for c, r in rates.items()}, NOW - timedelta(hours=1)
    )


@pytest.mark.parametrize(
    ("amount", "payer"),
    [
        (Money.of(1000, "JPY"), KRW),  # exponent 0 -> 0
        (Money.of(125050, "THB"), KWD),  # 2 -> 3
        (Money.of(1250, "KWD"), THB),  # 3 -> 2
        (Money.of(123457, "KRW"), JPY),
        (Money.of(100, "THB"), KWD),
    ],
)
def test_cross_exponent_quotes(static: RateSet, amount: Money, payer: object) -> None:
    assert payer in (KRW, KWD, THB, JPY)
    payer_cur = get_currency(str(payer))
    mid = static.mid_rate(amount.currency, payer_cur)
    quote = make_quote(
        id="qt_x",
        amount=amount,
        payer_currency=payer_cur,
        mid=mid,
        markup_bps=200,
        created_at=NOW,
        lifetime=LIFETIME,
    )
    shift = Fraction(10) ** (payer_cur.exponent - amount.currency.exponent)
    expected = ref_half_up(amount.value * Fraction(quote.rate) * shift)
    assert quote.payer_amount == Money(expected, payer_cur)
    assert quote.rate_source == "static" and quote.rate_set == static.id


def test_thb_to_kwd_by_hand(static: RateSet) -> None:
    mid = static.mid_rate(THB, KWD)
    # 0.3125 / 36.602 = 0.00853778482050161..., half-up to 10 significant digits.
    assert format_rate(mid.rate) == "0.008537784821"
    quote = make_quote(
        id="qt_k",
        amount=Money.of(125050, "THB"),
        payer_currency=KWD,
        mid=mid,
        markup_bps=0,
        created_at=NOW,
        lifetime=LIFETIME,
    )
    assert quote.rate == mid.rate
    # 125050 × 0.008537784821 × 10^(3−2) = 10676.4999186605 fils: just below the tie.
    assert quote.payer_amount == Money.parse("10.676", "KWD")


def mid_of(base: str, quote: str, rate: str) -> MidRate:
    return MidRate(get_currency(base), get_currency(quote), Decimal(rate), NOW, "static")


def test_payer_amount_bounds() -> None:
    with pytest.raises(InvalidAmount, match="below"):
        make_quote(
            id="qt_1",
            amount=Money.of(1, "KRW"),
            payer_currency=JPY,
            mid=mid_of("KRW", "JPY", "0.1044560801"),
            markup_bps=150,
            created_at=NOW,
            lifetime=LIFETIME,
        )
    with pytest.raises(InvalidAmount, match="exceed"):
        make_quote(
            id="qt_2",
            amount=Money.of(MAX_AMOUNT, "JPY"),
            payer_currency=KRW,
            mid=mid_of("JPY", "KRW", "9.573415429"),
            markup_bps=150,
            created_at=NOW,
            lifetime=LIFETIME,
        )


@pytest.mark.parametrize("value", [0, -1, MAX_AMOUNT + 1])
def test_amount_bounds(value: int) -> None:
    with pytest.raises(InvalidAmount):
        make_quote(
            id="qt_1",
            amount=Money.of(value, "THB"),
            payer_currency=CNY,
            mid=mid_of("THB", "CNY", "0.1860417464"),
            markup_bps=150,
            created_at=NOW,
            lifetime=LIFETIME,
        )


@pytest.mark.parametrize(("base", "quote"), [("CNY", "THB"), ("THB", "KRW"), ("JPY", "CNY")])
def test_mid_must_match_the_pair(base: str, quote: str) -> None:
    with pytest.raises(CurrencyMismatch):
        make_quote(
            id="qt_1",
            amount=Money.of(100, "THB"),
            payer_currency=CNY,
            mid=mid_of(base, quote, "1.5"),
            markup_bps=150,
            created_at=NOW,
            lifetime=LIFETIME,
        )


@pytest.mark.parametrize(
    ("markup", "lifetime", "created_at", "error"),
    [
        (-1, LIFETIME, NOW, ValueError),
        (1.5, LIFETIME, NOW, TypeError),
        (True, LIFETIME, NOW, TypeError),
        (150, timedelta(0), NOW, ValueError),
        (150, LIFETIME, datetime(2026, 1, 1), ValueError),
    ],
)
def test_misuse(markup: int, lifetime: timedelta, created_at: datetime, error: type) -> None:
    with pytest.raises(error):
        make_quote(
            id="qt_1",
            amount=Money.of(100, "THB"),
            payer_currency=CNY,
            mid=mid_of("THB", "CNY", "0.1860417464"),
            markup_bps=markup,
            created_at=created_at,
            lifetime=lifetime,
        )


def make_demo() -> Quote:
    return make_quote(
        id="qt_demo",
        amount=Money.of(125050, "THB"),
        payer_currency=CNY,
        mid=mid_of("THB", "CNY", "0.1860417464"),
        markup_bps=150,
        created_at=NOW,
        lifetime=LIFETIME,
    )


def test_honoured_exactly_until_expires_at() -> None:
    quote = make_demo()
    assert not quote.is_expired(NOW)
    assert not quote.is_expired(quote.expires_at)
    assert quote.is_expired(quote.expires_at + timedelta(microseconds=1))
    quote.ensure_not_expired(quote.expires_at)
    with pytest.raises(QuoteExpired, match="qt_demo"):
        quote.ensure_not_expired(quote.expires_at + timedelta(microseconds=1))
    # Another zone, same instant.
    bangkok = quote.expires_at.astimezone(datetime.now(UTC).astimezone().tzinfo)
    assert not quote.is_expired(bangkok)
    with pytest.raises(ValueError):
        quote.is_expired(datetime(2026, 11, 26, 9, 31))


def test_stored_quote_is_rechecked() -> None:
    quote = make_demo()
    fields = {f.name: getattr(quote, f.name) for f in dataclasses.fields(quote)}
    assert Quote(**fields) == quote
    with pytest.raises(InvalidAmount, match="payer_amount"):
        dataclasses.replace(quote, payer_amount=Money.of(23614, "CNY"))
    with pytest.raises(InvalidAmount, match="rate"):
        dataclasses.replace(quote, rate=Decimal("0.1888323727"))
    with pytest.raises(InvalidAmount, match="rate"):
        dataclasses.replace(quote, markup_bps=100)
    with pytest.raises(ValueError):
        dataclasses.replace(quote, expires_at=NOW - timedelta(seconds=1))


def test_rate_set_is_carried_from_the_mid_rate(ecb: RateSet) -> None:
    assert make_demo().rate_set is None  # a MidRate built by hand names no set
    quote = make_quote(
        id="qt_rs",
        amount=Money.of(125050, "THB"),
        payer_currency=CNY,
        mid=ecb.mid_rate(THB, CNY),
        markup_bps=150,
        created_at=NOW,
        lifetime=LIFETIME,
    )
    assert quote.rate_set == ecb.id
    # Read back from storage: the id is kept, and a quote stored before rate sets has None.
    fields = {f.name: getattr(quote, f.name) for f in dataclasses.fields(quote)}
    assert Quote(**fields) == quote
    del fields["rate_set"]
    assert Quote(**fields).rate_set is None
    assert Quote(**fields) == dataclasses.replace(quote, rate_set=None)
    assert quote.payer_amount == make_demo().payer_amount


def test_cumulative_refunds_never_exceed_payment() -> None:
    quote = make_demo()
    refunded_payer = 0
    refunded = Money.of(0, "THB")
    for part in (33333, 33333, 33333, 25051):
        refunded = refunded + Money.of(part, "THB")
        this_refund = quote.convert(refunded).value - refunded_payer
        refunded_payer += this_refund
    assert refunded == quote.amount
    assert refunded_payer == quote.payer_amount.value
    with pytest.raises(CurrencyMismatch):
        quote.convert(Money.of(100, "CNY"))


mids = st.builds(
    lambda digits, exponent: Decimal(f"{digits}E{exponent}"),
    st.integers(min_value=1, max_value=10**10 - 1),
    st.integers(min_value=-14, max_value=2),
)


@settings(max_examples=200)
@given(mids, st.integers(min_value=0, max_value=5_000))
def test_quote_rate_matches_reference(mid: Decimal, markup_bps: int) -> None:
    rate = quote_rate(mid, markup_bps)
    assert len(rate.normalize().as_tuple().digits) <= 10
    assert Fraction(rate) == ref_sig10(Fraction(mid) * Fraction(10_000 + markup_bps, 10_000))
    assert rate >= mid
    if markup_bps == 0:
        assert Fraction(rate) == ref_sig10(Fraction(mid))


def test_quote_rate_rejects() -> None:
    with pytest.raises(InvalidAmount):
        quote_rate(0.18, 150)  # type: ignore[arg-type]
    with pytest.raises(InvalidAmount):
        quote_rate(Decimal(0), 150)
    with pytest.raises(ValueError):
        quote_rate(Decimal("0.18"), -1)
