"""A cancel wins over a late approval (API.md, Payments; DESIGN.md, Payment lifecycle).

A merchant cancel is irrevocable once marked pending. If the partner approves the payment after
that, the approval is booked and then undone: reversed at the partner and in the journal, or, if
the partner refuses the cancel, refunded in full. Either way the payment ends `cancelled`, nets
to nothing in the books, and a later "success" from the partner changes nothing.
"""

from __future__ import annotations

import asyncio

from adapters import FailureCode, Operation, Outcome, PayRequest
from gateway.payments.model import CancelStatus, PaymentStatus
from gateway.refunds.model import RefundKind, RefundStatus
from tests.support.scripted import IN_PROCESS, Held
from tests.support.services import Services, body

PARTNER = "th-siampay"
APPROVED = Outcome.succeeded(partner_reference="sp-0001")


async def _processing(services: Services) -> str:
    """A payment still "in process" (the tourist confirming) when the POS budget ran out."""
    partner = services.partner(PARTNER)
    partner.on(Operation.PAY, IN_PROCESS)
    partner.on(Operation.INQUIRE, IN_PROCESS)
    answer = await services.pay()
    assert body(answer)["status"] == "processing", answer
    return str(body(answer)["id"])


async def _assert_nets_to_nothing(services: Services, payment_id: str) -> None:
    balances = await services.balances(payment_id)
    assert balances and set(balances.values()) == {0}, balances
    await services.assert_books_balance()


async def test_a_cancel_during_the_pos_request_wins_over_the_approval_that_follows(
    services: Services,
) -> None:
    partner = services.partner(PARTNER)
    partner.on(Operation.PAY, IN_PROCESS)
    approval = Held()
    partner.on(Operation.INQUIRE, approval)
    paying = asyncio.create_task(services.pay())
    await approval.arrived.wait()  # the POS request holds the payment, asking the partner
    [pay] = partner.asked(Operation.PAY)
    assert isinstance(pay.request, PayRequest)
    payment_id = pay.request.reference  # the payment's id

    cancelled = await services.cancel(payment_id)

    # The POS request still works on the payment: the cancel is pending, the partner not asked.
    assert cancelled.status == 202
    assert body(cancelled)["cancellation"]["status"] == "pending"
    assert partner.asked(Operation.CANCEL) == []

    approval.give(APPROVED)  # the tourist confirms: the partner approves after the cancel
    await paying
    approved = await services.payment(payment_id)
    assert approved.status is PaymentStatus.SUCCEEDED  # booked, since the partner charged
    assert approved.cancel_status is CancelStatus.PENDING  # and the cancel still stands

    partner.on(Operation.CANCEL, Outcome.succeeded())
    await services.resolver.resolve(payment_id)

    payment = await services.payment(payment_id)
    assert (payment.status, payment.cancel_status) == (
        PaymentStatus.CANCELLED,
        CancelStatus.CONFIRMED,
    )
    [attempt] = await services.attempts(payment_id)
    assert [c.request_id for c in partner.asked(Operation.CANCEL)] == [attempt.partner_request_id]
    assert await services.journal(payment_id) == ["payment", "reversal"]
    await _assert_nets_to_nothing(services, payment_id)


async def test_a_payment_cancelled_while_processing_ignores_a_later_success(
    services: Services,
) -> None:
    partner = services.partner(PARTNER)
    payment_id = await _processing(services)
    partner.on(Operation.CANCEL, Outcome.succeeded())

    cancelled = await services.cancel(payment_id)

    assert (cancelled.status, body(cancelled)["status"]) == (200, "cancelled")
    asked = len(partner.calls)
    partner.on(Operation.INQUIRE, APPROVED)  # what the partner would say now, if asked

    await services.resolver.resolve(payment_id)  # e.g. a sweep that read it as processing

    payment = await services.payment(payment_id)
    assert (payment.status, payment.cancel_status) == (
        PaymentStatus.CANCELLED,
        CancelStatus.CONFIRMED,
    )
    assert len(partner.calls) == asked  # nothing left to ask: cancelled is final
    assert await services.journal(payment_id) == []  # never booked as a success
    await services.assert_books_balance()


async def test_a_cancel_refused_after_a_late_approval_becomes_a_full_refund(
    services: Services,
) -> None:
    """The partner will not cancel (the tourist confirmed meanwhile) and says the payment
    succeeded: the success is booked and undone by a full refund, and the payment is
    `cancelled` all the same (not a merchant refund: `amount_refunded` stays 0)."""
    partner = services.partner(PARTNER)
    payment_id = await _processing(services)
    partner.on(Operation.CANCEL, Outcome.failed(FailureCode.PARTNER_DECLINED))
    partner.on(Operation.INQUIRE, APPROVED)
    partner.on(Operation.REFUND, Outcome.succeeded(partner_reference="sp-rf-0001"))

    cancelled = await services.cancel(payment_id)

    assert (cancelled.status, body(cancelled)["status"]) == (200, "cancelled")
    assert body(cancelled)["amount_refunded"]["value"] == 0
    payment = await services.payment(payment_id)
    assert payment.cancel_status is CancelStatus.CONFIRMED
    [full] = await services.refunds(payment_id, RefundKind.CANCEL)
    assert full.status is RefundStatus.SUCCEEDED
    assert (full.amount, full.payer_amount) == (payment.amount, payment.payer_amount)
    [made] = partner.asked(Operation.REFUND)
    assert made.request_id == full.partner_request_id
    assert partner.operations()[-3:] == ["cancel", "inquire", "refund"]
    assert await services.refunds(payment_id) == []  # no merchant refund
    assert await services.journal(payment_id) == ["payment", "reversal"]
    await _assert_nets_to_nothing(services, payment_id)
