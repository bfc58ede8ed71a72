"""The sandbox engine's settlement file (`adapters._sandbox`), without HTTP.

The business-date rule and the fee formula are reimplemented in the engine (adapters may not
import the gateway), so this checks them against the gateway's own functions. The ledger rules
(reversed payments out, refunds in, each by its own time) and the tampering are driven through
the Alipay+ ledger; the contract suite runs both families over HTTP.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from adapters import SystemClock, implied_rate
from adapters._sandbox import (
    Scenario,
    SettlementDesk,
    SettlementTerms,
    TamperRefused,
    add_settlement_arguments,
    settlement_terms_from_args,
)
from adapters.alipayplus import models as wire
from adapters.alipayplus.sandbox import PaymentStatus, SandboxLedger
from fx import Money
from gateway.core.business_days import business_date
from gateway.ledger.postings import partner_refund_fee

# --- business dates ------------------------------------------------------------------------------

ZONES_AND_CUTOFFS = [
    ("UTC", time(0, 0)),
    ("Asia/Bangkok", time(23, 0)),
    ("Asia/Tokyo", time(0, 0)),
    ("America/New_York", time(2, 30)),  # inside the spring-forward gap on 2026-03-08
    ("America/New_York", time(1, 30)),  # inside the repeated hour on 2026-11-01
    ("Europe/London", time(1, 0)),
    ("America/Santiago", time(0, 0)),  # DST starts at midnight
    ("Australia/Lord_Howe", time(2, 0)),  # a half-hour DST shift
]


def _moments() -> list[datetime]:
    """Every 10 minutes over a few DST days and ordinary days, in UTC."""
    days = [
        date(2026, 3, 8),
        date(2026, 11, 1),
        date(2026, 3, 29),
        date(2026, 10, 25),
        date(2026, 9, 6),
        date(2026, 4, 5),
        date(2026, 10, 4),
        date(2026, 11, 26),
    ]
    moments = []
    for day in days:
        start = datetime.combine(day, time(0, 0), tzinfo=UTC) - timedelta(hours=14)
        moments.extend(start + timedelta(minutes=10 * i) for i in range(6 * 52))
    return moments


@pytest.mark.parametrize(("zone", "cutoff"), ZONES_AND_CUTOFFS)
def test_business_dates_follow_the_gateways_rule(zone: str, cutoff: time) -> None:
    terms = SettlementTerms(timezone=zone, cutoff=cutoff)
    for moment in _moments():
        expected = business_date(moment, ZoneInfo(zone), cutoff)
        assert terms.business_date(moment) == expected, moment
        assert terms.business_date(moment + timedelta(microseconds=1)) == business_date(
            moment + timedelta(microseconds=1), ZoneInfo(zone), cutoff
        )


@pytest.mark.parametrize(("zone", "cutoff"), ZONES_AND_CUTOFFS)
def test_a_business_day_starts_where_the_one_before_ends(zone: str, cutoff: time) -> None:
    terms = SettlementTerms(timezone=zone, cutoff=cutoff)
    for day in (date(2026, 3, 8), date(2026, 3, 9), date(2026, 11, 1), date(2026, 11, 2)):
        start = terms.day_start(day)
        assert terms.business_date(start) == day
        assert terms.business_date(start - timedelta(microseconds=1)) == day - timedelta(days=1)


def test_the_cutoff_moves_a_late_sale_to_tomorrow() -> None:
    terms = SettlementTerms(timezone="Asia/Bangkok", cutoff=time(23, 0))
    assert terms.business_date(datetime(2026, 11, 26, 15, 59, 59, tzinfo=UTC)) == date(2026, 11, 26)
    assert terms.business_date(datetime(2026, 11, 26, 16, 0, tzinfo=UTC)) == date(2026, 11, 27)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"timezone": "Mars/Olympus"},
        {"fee_bps": -1},
        {"fee_bps": 10_001},
        {"fee_fixed": {"CNY": -1}},
        {"fee_fixed": {"ZZZ": 1}},
        {"cutoff": time(1, 0, tzinfo=UTC)},
    ],
)
def test_bad_terms_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        SettlementTerms(**kwargs)  # type: ignore[arg-type]


def test_the_sandbox_command_lines_settlement_options() -> None:
    parser = argparse.ArgumentParser()
    add_settlement_arguments(parser)
    args = parser.parse_args(
        [
            "--timezone",
            "Asia/Seoul",
            "--cutoff",
            "23:30",
            "--fee-bps",
            "55",
            "--fee-fixed",
            "KRW=100",
        ]
    )
    assert settlement_terms_from_args(parser, args) == SettlementTerms(
        timezone="Asia/Seoul", cutoff=time(23, 30), fee_bps=55, fee_fixed={"KRW": 100}
    )
    assert settlement_terms_from_args(parser, parser.parse_args([])) == SettlementTerms()
    with pytest.raises(SystemExit):
        settlement_terms_from_args(parser, parser.parse_args(["--fee-fixed", "KRW"]))
    with pytest.raises(SystemExit):
        settlement_terms_from_args(parser, parser.parse_args(["--timezone", "Nowhere/Else"]))


# --- fees and rates ------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [1, 49, 50, 83, 125, 25012, 999_999, 10**12])
@pytest.mark.parametrize("bps", [0, 1, 45, 120, 250, 10_000])
def test_fees_are_the_gateways_formula(value: int, bps: int) -> None:
    terms = SettlementTerms(fee_bps=bps, fee_fixed={"CNY": 30})
    amount = Money.of(value, "CNY")
    variable = partner_refund_fee(value, bps)  # round_half_up(value × bps / 10^4)
    assert terms.payment_fee(amount) == Money.of(variable + 30, "CNY")
    assert terms.refund_fee(amount) == Money.of(variable, "CNY")  # the fixed part is kept
    assert terms.payment_fee(Money.of(value, "KRW")).value == variable  # no fixed fee for KRW


def test_half_a_minor_unit_rounds_up() -> None:
    terms = SettlementTerms(fee_bps=50)
    assert terms.payment_fee(Money.of(100, "CNY")) == Money.of(1, "CNY")  # 0.5 -> 1
    assert terms.payment_fee(Money.of(99, "CNY")) == Money.of(0, "CNY")  # 0.495 -> 0


@pytest.mark.parametrize(
    ("payer", "merchant", "rate"),
    [
        (Money.of(25012, "CNY"), Money.of(125050, "THB"), "0.2000159936"),
        (Money.of(50000, "KRW"), Money.of(5000, "JPY"), "10"),  # both without decimals
        (Money.of(100, "CNY"), Money.of(2000, "JPY"), "0.0005"),  # 1.00 CNY per 2000 JPY
        (Money.of(2000, "JPY"), Money.of(100, "CNY"), "2000"),
        (Money.of(1, "KWD"), Money.of(3, "USD"), "0.03333333333"),  # 0.001 KWD per 0.03 USD
        (Money.of(2, "CNY"), Money.of(3, "CNY"), "0.6666666667"),  # half-up at digit 10
    ],
)
def test_implied_rate(payer: Money, merchant: Money, rate: str) -> None:
    assert implied_rate(payer, merchant) == Decimal(rate)
    assert str(implied_rate(payer, merchant)) == rate


def test_implied_rate_needs_positive_amounts() -> None:
    with pytest.raises(ValueError):
        implied_rate(Money.of(0, "CNY"), Money.of(1, "THB"))


# --- the ledger's lines --------------------------------------------------------------------------

TERMS = SettlementTerms(
    timezone="Asia/Bangkok", cutoff=time(23, 0), fee_bps=120, fee_fixed={"CNY": 30}
)
DAY = date(2026, 11, 26)


def amount(value: int, currency: str = "CNY") -> wire.Amount:
    return wire.Amount(currency=currency, value=str(value))


def at(hour: int, minute: int = 0) -> SystemClock:
    """A clock reading `hour:minute` Bangkok time on 26 Nov 2026 now."""
    moment = datetime(2026, 11, 26, hour, minute, tzinfo=ZoneInfo("Asia/Bangkok"))
    return SystemClock(moment - datetime.now(UTC))


def pay(
    ledger: SandboxLedger,
    request_id: str,
    value: int = 25012,
    *,
    last4: str = "0000",
    merchant: wire.Amount | None = None,
    status: PaymentStatus = PaymentStatus.SUCCESS,
    scenario: Scenario = Scenario.FINAL,
) -> None:
    ledger.record(
        payment_request_id=request_id,
        amount=amount(value),
        merchant_amount=merchant if merchant is not None else amount(value * 5, "THB"),
        code="28123456789012" + last4,
        scenario=scenario,
        status=status,
        result_code="SUCCESS",
    )


def refund(ledger: SandboxLedger, request_id: str, payment: str, value: int) -> None:
    made = ledger.refund(
        refund_request_id=request_id,
        payment=ledger.get(payment),
        payment_request_id=payment,
        amount=amount(value),
        fingerprint=request_id,
    )
    assert made.succeeded


def test_the_ledger_lines_of_a_day() -> None:
    clock = at(22, 0)
    ledger = SandboxLedger(clock, confirm_seconds=2, expire_seconds=3)
    pay(ledger, "att_ok")
    pay(ledger, "att_declined", status=PaymentStatus.FAIL)
    pay(ledger, "att_cancelled")
    ledger_payment = ledger.get("att_cancelled")
    assert ledger_payment is not None and ledger.cancel(ledger_payment) is None
    pay(ledger, "att_refunded")
    refund(ledger, "rfa_1", "att_refunded", 10000)
    pay(ledger, "att_bad_order", merchant=amount(-5, "THB"))  # an unreadable order amount
    clock.advance(timedelta(hours=1, minutes=30))  # 23:30: the next business day
    refund(ledger, "rfa_2", "att_refunded", 5000)

    rows = ledger.settlement_rows(TERMS, DAY)
    assert [(r.record_type, r.request_id) for r in rows] == [
        ("payment", "att_ok"),
        ("payment", "att_refunded"),
        ("refund", "rfa_1"),
        ("payment", "att_bad_order"),
    ]
    ok = rows[0]
    assert ok.amount == Money.of(25012, "CNY")
    assert ok.fee == Money.of(300 + 30, "CNY")
    assert ok.merchant_amount == Money.of(125060, "THB")
    assert ok.fx_rate == implied_rate(Money.of(25012, "CNY"), Money.of(125060, "THB"))
    assert ok.net == 25012 - 330
    rfa_1 = rows[2]
    assert (rfa_1.payment_request_id, rfa_1.fee, rfa_1.merchant_amount, rfa_1.net) == (
        "att_refunded",
        Money.of(120, "CNY"),
        None,
        -(10000 - 120),
    )
    assert rows[3].merchant_amount is None and rows[3].fx_rate is None
    tomorrow = ledger.settlement_rows(TERMS, date(2026, 11, 27))
    assert [(r.record_type, r.request_id) for r in tomorrow] == [("refund", "rfa_2")]


def test_a_confirmed_payment_is_dated_by_its_confirmation() -> None:
    clock = at(22, 59)
    ledger = SandboxLedger(clock, confirm_seconds=120, expire_seconds=3)
    pay(
        ledger,
        "att_confirm",
        last4="0093",
        status=PaymentStatus.PROCESSING,
        scenario=Scenario.CONFIRM,
    )
    assert ledger.settlement_rows(TERMS, DAY) == []
    clock.advance(timedelta(minutes=5))
    assert ledger.settlement_rows(TERMS, DAY) == []  # confirmed at 23:01: the next day
    [row] = ledger.settlement_rows(TERMS, date(2026, 11, 27))
    assert row.request_id == "att_confirm"


def test_refund_fees_are_given_back_cumulatively_across_days() -> None:
    """Like the gateway's books (API.md): each refund gives back round_half_up(refunded so far
    × bps) less what earlier refunds gave, so three partial refunds, one on the next day, give
    back exactly the payment's % fee, not the sum of each refund's own rounding."""
    clock = at(22, 0)
    ledger = SandboxLedger(clock, confirm_seconds=2, expire_seconds=3)
    pay(ledger, "att_split", value=100)
    for n, value in enumerate((33, 33), start=1):
        refund(ledger, f"rfs_{n}", "att_split", value)
    clock.advance(timedelta(hours=1, minutes=30))  # the next business day
    refund(ledger, "rfs_3", "att_split", 34)
    today = ledger.settlement_rows(TERMS, DAY)
    tomorrow = ledger.settlement_rows(TERMS, date(2026, 11, 27))
    fees = [r.fee.value for r in [*today, *tomorrow] if r.record_type == "refund"]
    per_line = [TERMS.refund_fee(Money.of(v, "CNY")).value for v in (33, 33, 34)]
    whole = TERMS.refund_fee(Money.of(100, "CNY")).value
    assert sum(fees) == whole and fees == [
        TERMS.refund_fee(Money.of(33, "CNY")).value,
        TERMS.refund_fee(Money.of(66, "CNY")).value - TERMS.refund_fee(Money.of(33, "CNY")).value,
        whole - TERMS.refund_fee(Money.of(66, "CNY")).value,
    ]
    assert sum(per_line) != whole  # the old per-line rule would not have added up


# --- tampering -----------------------------------------------------------------------------------


def tamper(desk: SettlementDesk, **body: object) -> dict[str, object]:
    return desk.tamper(json.dumps({"business_date": DAY.isoformat(), **body}).encode())


def test_tampering_is_refused_unless_allowed() -> None:
    desk = SettlementDesk(TERMS)
    with pytest.raises(TamperRefused):
        tamper(desk, drop=["att_ok"])


def test_tampering_applies_to_its_own_day_and_the_last_one_wins() -> None:
    ledger = SandboxLedger(at(12, 0), confirm_seconds=2, expire_seconds=3)
    pay(ledger, "att_a")
    pay(ledger, "att_b")
    desk = SettlementDesk(TERMS, allow_tamper=True)
    summary = tamper(
        desk, drop=["att_a", "att_never"], alter=[{"partner_request_id": "att_b", "amount": 1}]
    )
    assert summary == {
        "business_date": "2026-11-26",
        "drop": ["att_a", "att_never"],
        "add": [],
        "alter": ["att_b"],
    }
    [row] = desk.rows(ledger, DAY)
    assert (row.request_id, row.amount, row.fee) == (
        "att_b",
        Money.of(1, "CNY"),
        Money.of(330, "CNY"),
    )
    tamper(desk, add=[{"partner_request_id": "att_x", "amount": 5, "currency": "KRW"}])
    rows = desk.rows(ledger, DAY)
    assert [r.request_id for r in rows] == ["att_x", "att_a", "att_b"]  # first minute of the day
    assert rows[0].completed_at == datetime(2026, 11, 25, 16, 1, tzinfo=UTC)  # 23:01 the day before
    assert rows[0].fee == Money.of(0, "KRW") and rows[0].fx_rate is None
    assert [r.request_id for r in desk.rows(ledger, DAY, "KRW")] == ["att_x"]


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"{}",
        b'{"business_date": "2026-11-26", "drop": "att_a"}',
        b'{"business_date": "2026-11-26", "alter": [{"amount": 1}]}',
        b'{"business_date": "2026-11-26", "alter": [{"partner_request_id": "a", "amount": "1"}]}',
        b'{"business_date": "2026-11-26", "alter": [{"partner_request_id": "a", "fee": -1}]}',
        b'{"business_date": "2026-11-26", "alter": [{"partner_request_id": "a", "fx_rate": "-1"}]}',
        b'{"business_date": "2026-11-26", "alter": [{"partner_request_id": "a", '
        b'"fx_rate": "NaN"}]}',
        b'{"business_date": "2026-11-26", "add": [{"partner_request_id": "a", "amount": 0, '
        b'"currency": "CNY"}]}',
        b'{"business_date": "2026-11-26", "add": [{"partner_request_id": "a", "amount": 1, '
        b'"currency": "CNY", "merchant_amount": 5}]}',
        b'{"business_date": "2026-11-26", "add": [{"partner_request_id": "a", "amount": 1, '
        b'"currency": "CNY", "completed_at": "2026-11-26T10:00:00"}]}',
    ],
)
def test_a_bad_tampering_is_a_value_error(body: bytes) -> None:
    desk = SettlementDesk(TERMS, allow_tamper=True)
    with pytest.raises(ValueError):
        desk.tamper(body)
