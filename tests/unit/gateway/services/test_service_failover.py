"""Never fail over once a pay may have been sent (DESIGN.md, Retries; README step 4).

A partner that certainly did not receive the pay (connection refused, or a signed "not
accepted") charged nothing, so the payment goes to the next eligible partner with a new partner
request id. A partner that may have received it (a read timeout) may have charged the tourist:
the payment stays with it, the same request is re-sent or inquired, and after the POS wait budget
the resolver only inquires, then cancels. Another partner never sees the pay, whatever the first
one says afterwards. In Thailand th-siampay comes first and th-krungpay could take the payment.
"""

from __future__ import annotations

import asyncio

import pytest

from adapters import Delivery, Operation, Outcome, PaymentNotification, PayRequest
from gateway.payments.model import AttemptStatus, PaymentStatus
from tests.support.scripted import NOT_FOUND, NOT_SENT, TIMED_OUT, Held
from tests.support.services import Services, body

FIRST, SECOND = "th-siampay", "th-krungpay"
APPROVED = Outcome.succeeded(partner_reference="sp-0001")
NOT_ACCEPTED = Outcome.unknown(Delivery.NOT_SENT, "signed: not accepted", http_status=503)


@pytest.mark.parametrize("refusal", [NOT_SENT, NOT_ACCEPTED], ids=["not_sent", "not_accepted"])
async def test_a_partner_that_certainly_did_not_receive_the_pay_is_replaced(
    services: Services, refusal: Outcome
) -> None:
    first, second = services.partner(FIRST), services.partner(SECOND)
    first.on(Operation.PAY, refusal)
    second.on(Operation.PAY, Outcome.succeeded(partner_reference="kp-0001"))

    answer = await services.pay()

    assert answer.status == 201
    assert (body(answer)["status"], body(answer)["partner"]) == ("succeeded", SECOND)
    refused, taken = await services.attempts(body(answer)["id"])
    assert (refused.partner, refused.status) == (FIRST, AttemptStatus.NOT_ACCEPTED)
    assert (taken.partner, taken.status) == (SECOND, AttemptStatus.SUCCEEDED)
    assert first.operations() == ["pay"] and second.operations() == ["pay"]
    # A new attempt is a new partner request: the second partner never sees the first's id.
    assert first.calls[0].request_id == refused.partner_request_id
    assert second.calls[0].request_id == taken.partner_request_id != refused.partner_request_id


async def test_a_pay_that_may_have_been_received_stays_with_its_partner(
    services: Services,
) -> None:
    """The first send timed out; the re-sends are refused outright. A refusal says nothing of
    the first send, which may have charged: no fail-over, the partner is asked what it has."""
    first = services.partner(FIRST)
    first.on(Operation.PAY, TIMED_OUT, NOT_SENT)
    first.on(Operation.INQUIRE, APPROVED)

    answer = await services.pay()

    assert (body(answer)["status"], body(answer)["partner"]) == ("succeeded", FIRST)
    [attempt] = await services.attempts(body(answer)["id"])
    sends = services.ctx.settings.partner(FIRST).retry.max_attempts
    assert first.operations() == ["pay"] * sends + ["inquire"]
    assert {c.request_id for c in first.calls} == {attempt.partner_request_id}
    assert services.partner(SECOND).calls == []
    assert services.time.pauses  # it waited between the calls, in virtual time only


async def test_after_the_budget_a_maybe_sent_pay_is_inquired_never_sent_again(
    services: Services,
) -> None:
    """Unknown for the whole POS wait budget: the POS gets `processing`; the resolver then
    asks the same partner, and its late answer ends the payment. No new pay, anywhere."""
    first = services.partner(FIRST)
    first.on(Operation.PAY, TIMED_OUT)
    first.on(Operation.INQUIRE, NOT_FOUND)

    answer = await services.pay()

    assert (answer.status, body(answer)["status"]) == (201, "processing")
    payment_id = body(answer)["id"]
    budget = services.ctx.settings.durations.pos_wait_budget.total_seconds()
    assert services.time.waited <= budget  # the budget ran out in virtual time
    at_the_answer = len(first.calls)
    assert set(first.operations()[first.operations().index("inquire") :]) == {"inquire"}

    first.on(Operation.INQUIRE, NOT_FOUND, NOT_FOUND, APPROVED)
    await services.resolver.resolve(payment_id)

    payment = await services.payment(payment_id)
    assert (payment.status, payment.partner) == (PaymentStatus.SUCCEEDED, FIRST)
    assert first.operations()[at_the_answer:] == ["inquire"] * 3  # the resolver never pays
    assert services.partner(SECOND).calls == []
    [attempt] = await services.attempts(payment_id)
    assert {c.request_id for c in first.calls} == {attempt.partner_request_id}


async def test_still_unknown_at_the_deadline_it_is_cancelled_never_replaced(
    services: Services,
) -> None:
    """ "Not found" until the inquiry deadline is not a failure by itself: the resolver cancels
    at the same partner, and the payment fails `cancelled_after_timeout`."""
    first = services.partner(FIRST)
    first.on(Operation.PAY, TIMED_OUT)
    first.on(Operation.INQUIRE, NOT_FOUND)
    first.on(Operation.CANCEL, Outcome.succeeded())
    answer = await services.pay()
    payment_id = body(answer)["id"]

    await services.resolver.resolve(payment_id)

    payment = await services.payment(payment_id)
    assert payment.status is PaymentStatus.FAILED
    assert payment.failure is not None and payment.failure.code == "cancelled_after_timeout"
    asked = first.operations()
    after_the_sends = asked[asked.index("inquire") :]
    assert after_the_sends == ["inquire"] * (len(after_the_sends) - 1) + ["cancel"]
    deadline = payment.created_at + services.ctx.settings.durations.inquiry_deadline
    *inquiries, cancel = first.calls[asked.index("inquire") :]
    assert all(c.at is not None and c.at < deadline for c in inquiries)
    assert cancel.at is not None and cancel.at >= deadline
    assert services.partner(SECOND).calls == []


async def test_a_payment_a_notification_booked_is_never_discarded_as_refused(
    services: Services,
) -> None:
    """The last partner refuses every send, so the request would drop the payment as charged
    nowhere; but meanwhile that partner's signed notification said it was paid, and booked it.
    The POS must get the stored payment (succeeded), never "nothing was charged"."""
    first, second = services.partner(FIRST), services.partner(SECOND)
    first.on(Operation.PAY, NOT_SENT)
    held = Held()
    second.on(Operation.PAY, held, NOT_SENT)
    paying = asyncio.create_task(services.pay())
    await held.arrived.wait()
    request = second.calls[0].request
    assert isinstance(request, PayRequest)
    said = PaymentNotification(request.partner_request_id, APPROVED, request.payer_amount)
    assert (await services.notify(SECOND, said)).status == 200
    held.give(NOT_SENT)
    answer = await paying
    assert answer.status == 201, answer.body
    assert (body(answer)["status"], body(answer)["partner"]) == ("succeeded", SECOND)
    assert await services.journal(body(answer)["id"]) == ["payment"]
