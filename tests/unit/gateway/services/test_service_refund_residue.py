"""The two refund rules of issue #17 through the refund service (API.md, Business days and fees).

- A refund whose payer amount would be 0 is `invalid_amount`, except when the tourist already has
  every payer unit back: then it is accepted and booked at once, payer amount 0, no partner call,
  so `amount_refunded` can reach the payment's amount (before, the last 0.01 THB of a payment
  paid in KRW could never be refunded).
- What refunds return of the fees is cumulative, under the fee terms stored with the payment:
  a payment refunded in full returns exactly its % fee, however the merchant's terms change
  meanwhile; the partner's % fee likewise, or nothing when its schedule keeps it.
"""

from __future__ import annotations

import dataclasses

import pytest
import sqlalchemy as sa

import fx
from adapters import Operation, Outcome
from gateway.core.errors import InvalidAmount, RefundExceedsPayment
from gateway.ledger.postings import merchant_fee
from gateway.storage.tables import metadata
from tests.support.scripted import TIMED_OUT
from tests.support.services import Services, body, wallet_code

PARTNER = "th-siampay"
PAID = Outcome.succeeded(partner_reference="sp-pay")
REFUNDED = Outcome.succeeded(partner_reference="sp-rf")
_events = metadata.tables["events"]
_entries = metadata.tables["journal_entries"]


def _krw_code() -> str:
    return "81" + wallet_code()[2:]  # Kakao Pay: the tourist pays in KRW


async def _paid_in_krw_with_a_residue(services: Services) -> tuple[str, int, int]:
    """A THB payment paid in KRW whose last 0.01 THB is worth 0 won: refunding all but it
    already gives the tourist every won back. (payment id, amount, payer amount)"""
    services.partner(PARTNER).on(Operation.PAY, PAID)
    for value in range(100_001, 100_101):
        answer = await services.pay(value, code=_krw_code())
        payment = await services.payment(str(body(answer)["id"]))
        assert payment.quote is not None
        krw, thb = payment.payer_amount.currency, payment.amount.currency
        if fx.convert_minor(value - 1, payment.quote.rate_value, thb, krw) == (
            payment.payer_amount.value
        ):
            return payment.id, value, payment.payer_amount.value
    raise AssertionError("no amount with a residue")


async def test_the_residue_is_booked_at_once_without_the_partner(services: Services) -> None:
    payment_id, value, payer = await _paid_in_krw_with_a_residue(services)
    partner = services.partner(PARTNER).on(Operation.REFUND, REFUNDED)

    most = body(await services.refund(payment_id, value - 1))
    assert most["status"] == "succeeded" and most["payer_amount"]["value"] == payer

    residue = body(await services.refund(payment_id, 1))

    assert residue["status"] == "succeeded", residue
    assert residue["payer_amount"] == {"currency": "KRW", "value": 0}
    assert residue["partner_reference"] is None
    assert len(partner.asked(Operation.REFUND)) == 1  # the residue never reached the partner
    payment = await services.payment(payment_id)
    assert payment.refunded_value == payment.reserved_value == value  # refunded in full
    assert payment.reserved_payer_value == payer
    refunds = await services.refunds(payment_id)
    assert sum(r.merchant_fee or 0 for r in refunds) == merchant_fee(value, 150, 0)
    assert [r.payer_amount.value for r in refunds] == [payer, 0]
    balances = await services.balances(payment_id)
    assert {k: v for k, v in balances.items() if v} == {}  # nets to 0 on every account
    async with services.ctx.db.reader.connect() as conn:
        events = (
            await conn.scalars(
                sa.select(_events.c.type).where(_events.c.type == "refund.succeeded")
            )
        ).all()
    assert len(events) == 2  # the residue's event too
    with pytest.raises(RefundExceedsPayment, match=r"at most 0\.00 THB"):  # nothing is left
        await services.refund(payment_id, 1)
    await services.assert_books_balance()


async def test_a_zero_refund_while_the_tourist_is_owed_is_invalid(services: Services) -> None:
    payment_id, _value, _payer = await _paid_in_krw_with_a_residue(services)
    partner = services.partner(PARTNER).on(Operation.REFUND, REFUNDED)

    with pytest.raises(InvalidAmount, match="too small to return anything in KRW"):
        await services.refund(payment_id, 1)  # 0.01 THB: 0 won, and every won still owed

    assert partner.asked(Operation.REFUND) == []
    payment = await services.payment(payment_id)
    assert (payment.reserved_value, payment.refunded_value) == (0, 0)


async def test_a_residue_waits_for_the_refunds_in_flight(services: Services) -> None:
    payment_id, value, _payer = await _paid_in_krw_with_a_residue(services)
    partner = services.partner(PARTNER)
    partner.on(Operation.REFUND, TIMED_OUT)
    partner.on(Operation.INQUIRE_REFUND, TIMED_OUT)
    unknown = body(await services.refund(payment_id, value - 1))
    assert unknown["status"] == "processing"

    with pytest.raises(InvalidAmount, match="once the refunds still processing have succeeded"):
        await services.refund(payment_id, 1)


async def test_refunds_return_fees_under_the_terms_the_payment_was_booked_under(
    services: Services,
) -> None:
    """The merchant's mdr and the partner's schedule change after the payment: its refunds
    still return its own % fee exactly, and `ledger verify` judges it by its stored terms."""
    services.partner(PARTNER).on(Operation.PAY, PAID)
    services.partner(PARTNER).on(Operation.REFUND, REFUNDED)
    value = 98_765
    payment_id = str(body(await services.pay(value))["id"])  # CNY, 150 bps, 60 bps + 0.10 CNY
    payment = await services.payment(payment_id)
    assert payment.merchant_fee == merchant_fee(value, 150, 0)

    merchants = metadata.tables["merchants"]
    async with services.ctx.db.writer.begin() as conn:
        await conn.execute(sa.update(merchants).values(mdr_bps=500, fixed_fee=300))
    kept = _with_schedule(services, "kept")
    services.merchant = dataclasses.replace(services.merchant, mdr_bps=500, fixed_fee=300)

    for step in (33_333, 33_333, value - 66_666):
        assert body(await services.refund(payment_id, step))["status"] == "succeeded"

    refunds = await services.refunds(payment_id)
    assert sum(r.merchant_fee or 0 for r in refunds) == merchant_fee(value, 150, 0)
    assert sum(r.partner_fee or 0 for r in refunds) == payment.partner_fee - 10  # fixed kept
    async with services.ctx.db.reader.connect() as conn:
        terms = (
            await conn.execute(
                sa.select(_entries.c.mdr_bps, _entries.c.partner_fee_returned).where(
                    _entries.c.payment_id == payment_id
                )
            )
        ).all()
    assert {tuple(row) for row in terms} == {(150, True)}  # the payment's entry and each refund's
    assert kept.partner(PARTNER).fees.refunds == "kept"
    await services.assert_books_balance()


async def test_a_partner_that_keeps_its_fee_returns_none(services: Services) -> None:
    _with_schedule(services, "kept")
    services.partner(PARTNER).on(Operation.PAY, PAID)
    services.partner(PARTNER).on(Operation.REFUND, REFUNDED)
    value = 125_050
    payment_id = str(body(await services.pay(value))["id"])
    for step in (50_000, value - 50_000):
        assert body(await services.refund(payment_id, step))["status"] == "succeeded"

    payment = await services.payment(payment_id)
    refunds = await services.refunds(payment_id)
    assert [r.partner_fee for r in refunds] == [0, 0]
    assert sum(r.merchant_fee or 0 for r in refunds) == merchant_fee(value, 150, 0)
    balances = {k: v for k, v in (await services.balances(payment_id)).items() if v}
    assert balances == {("partner_receivable", "CNY"): -(payment.partner_fee or 0),
                        ("partner_fees", "CNY"): payment.partner_fee}  # fmt: skip
    await services.assert_books_balance()


def _with_schedule(services: Services, schedule: str):  # type: ignore[no-untyped-def]
    settings = services.ctx.settings
    partners = [
        p.model_copy(update={"fees": p.fees.model_copy(update={"refunds": schedule})})
        if p.id == PARTNER
        else p
        for p in settings.partners
    ]
    services.ctx.settings = settings.model_copy(
        update={"partners": type(settings.partners)(partners)}
    )
    return services.ctx.settings
