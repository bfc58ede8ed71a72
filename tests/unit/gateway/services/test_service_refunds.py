"""Refund reservations (API.md, Refunds; README, How a payment flows).

A refund reserves its amount on the locked payment row in the same commit that creates it, so
succeeded + processing refunds never exceed the payment: a refund whose outcome is still unknown
holds its share, refunds racing for the same payment are decided one after another, and the one
that would go over is refused before the partner hears of it. A final decline gives its share
back, whether the partner says so at once or the resolver finds it out later.
"""

from __future__ import annotations

import asyncio

import pytest

from adapters import FailureCode, Operation, Outcome
from gateway.core.errors import RefundExceedsPayment
from gateway.refunds.model import RefundStatus
from tests.support.scripted import TIMED_OUT, Held
from tests.support.services import Services, body

PARTNER = "th-siampay"
VALUE = 100_000  # THB 1,000.00
REFUNDED = Outcome.succeeded(partner_reference="sp-rf")
DECLINED = Outcome.failed(FailureCode.PARTNER_DECLINED, message="refund declined")


async def _paid(services: Services) -> str:
    services.partner(PARTNER).on(Operation.PAY, Outcome.succeeded(partner_reference="sp-0001"))
    answer = await services.pay(VALUE)
    assert body(answer)["status"] == "succeeded", answer
    return str(body(answer)["id"])


async def test_refunds_never_exceed_the_payment(services: Services) -> None:
    payment_id = await _paid(services)
    partner = services.partner(PARTNER).on(Operation.REFUND, REFUNDED)

    first = await services.refund(payment_id, 60_000)
    assert body(first)["status"] == "succeeded"
    with pytest.raises(RefundExceedsPayment, match=r"at most 400\.00 THB"):
        await services.refund(payment_id, 40_001)
    rest = await services.refund(payment_id, 40_000)
    assert body(rest)["status"] == "succeeded"
    with pytest.raises(RefundExceedsPayment, match=r"at most 0\.00 THB"):
        await services.refund(payment_id, 1)

    assert len(partner.asked(Operation.REFUND)) == 2  # a refused refund never reaches it
    payment = await services.payment(payment_id)
    assert payment.refunded_value == payment.reserved_value == VALUE
    # Priced cumulatively: the two refunds return exactly what the tourist paid.
    returned = [r.payer_amount.value for r in await services.refunds(payment_id)]
    assert sum(returned) == payment.payer_amount.value
    await services.assert_books_balance()


async def test_a_refund_still_processing_keeps_its_amount_reserved(services: Services) -> None:
    payment_id = await _paid(services)
    partner = services.partner(PARTNER)
    partner.on(Operation.REFUND, TIMED_OUT)
    partner.on(Operation.INQUIRE_REFUND, TIMED_OUT)

    unknown = await services.refund(payment_id, 60_000)

    assert body(unknown)["status"] == "processing"  # the POS budget ran out, in virtual time
    with pytest.raises(RefundExceedsPayment, match=r"at most 400\.00 THB"):
        await services.refund(payment_id, 50_000)
    payment = await services.payment(payment_id)
    assert (payment.refunded_value, payment.reserved_value) == (0, 60_000)
    assert {c.request_id for c in partner.calls[1:]} == {body(unknown)["id"]}  # one refund


async def test_concurrent_refunds_are_decided_one_after_another(services: Services) -> None:
    """Three refunds of 40 % at once: each is reserved in turn on the locked payment, so two
    fit and the third is refused, whatever the order they arrive in."""
    payment_id = await _paid(services)
    partner = services.partner(PARTNER).on(Operation.REFUND, REFUNDED)

    answers = await asyncio.gather(
        *(services.refund(payment_id, 40_000) for _ in range(3)), return_exceptions=True
    )

    refused = [a for a in answers if isinstance(a, BaseException)]
    made = [a for a in answers if not isinstance(a, BaseException)]
    assert len(made) == 2 and len(refused) == 1, answers
    assert isinstance(refused[0], RefundExceedsPayment)
    assert str(refused[0]).endswith("at most 200.00 THB can still be refunded.")
    assert {body(a)["status"] for a in made} == {"succeeded"}
    assert len(partner.asked(Operation.REFUND)) == 2
    payment = await services.payment(payment_id)
    assert payment.refunded_value == payment.reserved_value == 80_000


async def test_a_refund_waiting_on_the_partner_holds_off_a_racing_one(
    services: Services,
) -> None:
    """The first refund is reserved and at the partner, its answer not back yet; a second that
    would go over is refused meanwhile, and the partner only ever sees the first."""
    payment_id = await _paid(services)
    answer = Held()
    partner = services.partner(PARTNER).on(Operation.REFUND, answer)
    first = asyncio.create_task(services.refund(payment_id, 70_000))
    await answer.arrived.wait()

    with pytest.raises(RefundExceedsPayment, match=r"at most 300\.00 THB"):
        await services.refund(payment_id, 30_001)

    answer.give(REFUNDED)
    assert body(await first)["status"] == "succeeded"
    assert len(partner.asked(Operation.REFUND)) == 1


async def test_a_final_decline_releases_the_reservation(services: Services) -> None:
    payment_id = await _paid(services)
    partner = services.partner(PARTNER).on(Operation.REFUND, DECLINED)

    declined = await services.refund(payment_id, VALUE)

    assert body(declined)["status"] == "failed"
    payment = await services.payment(payment_id)
    assert (payment.refunded_value, payment.reserved_value, payment.reserved_payer_value) == (
        0,
        0,
        0,
    )
    partner.on(Operation.REFUND, REFUNDED)
    again = await services.refund(payment_id, VALUE)  # all of it is refundable again
    assert body(again)["status"] == "succeeded"
    await services.assert_books_balance()


async def test_a_decline_the_resolver_finds_releases_the_reservation(services: Services) -> None:
    """Unknown at the POS (reserved, `processing`); the resolver's inquiry finds the decline
    later, and only then is the amount refundable again."""
    payment_id = await _paid(services)
    partner = services.partner(PARTNER)
    partner.on(Operation.REFUND, TIMED_OUT)
    partner.on(Operation.INQUIRE_REFUND, TIMED_OUT)
    unknown = await services.refund(payment_id, VALUE)
    refund_id = body(unknown)["id"]
    with pytest.raises(RefundExceedsPayment):
        await services.refund(payment_id, 1)
    pos_calls = len(partner.calls)

    partner.on(Operation.INQUIRE_REFUND, DECLINED)
    await services.resolver.resolve_refund(refund_id)

    [refund] = await services.refunds(payment_id)
    assert refund.status is RefundStatus.FAILED
    assert partner.operations()[pos_calls:] == ["inquire_refund"]  # asked, never re-sent
    payment = await services.payment(payment_id)
    assert payment.reserved_value == 0
    partner.on(Operation.REFUND, REFUNDED)
    again = await services.refund(payment_id, VALUE)
    assert body(again)["status"] == "succeeded"
    await services.assert_books_balance()
