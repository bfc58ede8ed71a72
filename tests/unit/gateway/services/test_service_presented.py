"""Merchant-presented payments (issue #15), the gateway's own rules with the partner scripted,
in virtual time: the code shown, the notification booked once whatever comes again or late,
refused when it does not add up, the code cancelled at its expiry so that a late scan cannot
charge, and a notification outranking the resolver's inquiries."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import fx
from adapters import (
    FailureCode,
    Operation,
    OrderCode,
    OrderCodeRequest,
    Outcome,
    PaymentNotification,
)
from gateway.core.render import rfc3339
from gateway.payments.model import PaymentStatus
from tests.support.scripted import IN_PROCESS, TIMED_OUT, Held
from tests.support.services import START, Services, body

PARTNER = "th-siampay"
CANCELLED = Outcome.succeeded(partner_reference="sp-cancel")


def _issue(services: Services) -> None:
    """The partner issues a code valid for its asked lifetime."""

    def issue(request: OrderCodeRequest) -> OrderCode:
        return OrderCode(
            f"https://partner.test/oc/{request.partner_request_id}", request.expires_at, "sp-1"
        )

    services.partner(PARTNER).on(Operation.ORDER_CODE, issue)


async def _shown(services: Services) -> dict[str, object]:
    _issue(services)
    answer = await services.present()
    assert answer.status == 201, answer.body
    shown = body(answer)
    assert shown["status"] == "requires_customer", shown
    return shown


def _said(
    services: Services, outcome: Outcome, payer: fx.Money | None = None
) -> PaymentNotification:
    [call] = services.partner(PARTNER).asked(Operation.ORDER_CODE)
    request = call.request
    assert isinstance(request, OrderCodeRequest)
    return PaymentNotification(request.partner_request_id, outcome, payer or request.payer_amount)


PAID = Outcome.succeeded(partner_reference="sp-1", completed_at=START + timedelta(seconds=40))


async def test_the_code_is_shown_with_what_the_till_needs(services: Services) -> None:
    shown = await _shown(services)
    [call] = services.partner(PARTNER).asked(Operation.ORDER_CODE)
    request = call.request
    assert isinstance(request, OrderCodeRequest)
    assert request.notify_url == f"http://gateway.test/partners/{PARTNER}/notify"
    assert request.expires_at == START + services.ctx.settings.durations.order_code_lifetime
    assert request.payer_amount.currency.code == "CNY" and request.amount.value == 125_050
    assert shown["payment_method"] == {"type": "merchant_qr", "wallet": "alipay_cn"}
    assert shown["next_action"] == {
        "type": "display_qr",
        "qr_code": f"https://partner.test/oc/{request.partner_request_id}",
        "expires_at": rfc3339(request.expires_at),
    }
    assert shown["payer_amount"] == {"currency": "CNY", "value": request.payer_amount.value}
    assert services.partner(PARTNER).asked(Operation.PAY) == []


async def test_a_notification_books_once_however_often_it_comes(services: Services) -> None:
    shown = await _shown(services)
    payment_id = str(shown["id"])
    said = _said(services, PAID)
    acks = [await services.notify(PARTNER, said) for _ in range(5)]
    assert [a.status for a in acks] == [200] * 5
    paid = await services.payment(payment_id)
    assert paid.status is PaymentStatus.SUCCEEDED and paid.partner_reference == "sp-1"
    assert await services.journal(payment_id) == ["payment"]
    assert paid.next_action_at is None and paid.lease_owner is None
    # ...and a late inquiry saying the same finds nothing left to do
    await services.resolver.resolve(payment_id)
    assert services.partner(PARTNER).asked(Operation.INQUIRE) == []
    await services.assert_books_balance()


async def test_what_does_not_add_up_is_refused_and_nothing_booked(services: Services) -> None:
    shown = await _shown(services)
    payment_id = str(shown["id"])
    partner = services.partner(PARTNER)
    said = _said(services, PAID)
    other = fx.Money(said.payer_amount.value + 1, said.payer_amount.currency)
    assert (await services.notify(PARTNER, _said(services, PAID, other))).status == 503
    forged = partner.notification(said)
    forged = type(forged)(forged.method, forged.path, forged.headers, b"forged")
    from gateway.payments.notifications import receive_notification

    assert (await receive_notification(services.ctx, PARTNER, forged)).status == 503
    stranger = PaymentNotification("nobody-asked", PAID, said.payer_amount)
    assert (await services.notify(PARTNER, stranger)).status == 503
    assert (await services.payment(payment_id)).status is PaymentStatus.REQUIRES_CUSTOMER
    assert await services.journal(payment_id) == []
    assert (await services.notify(PARTNER, said)).status == 200  # the real one still books
    assert (await services.payment(payment_id)).status is PaymentStatus.SUCCEEDED


async def test_an_unpaid_code_is_cancelled_at_its_expiry(services: Services) -> None:
    shown = await _shown(services)
    payment_id = str(shown["id"])
    partner = services.partner(PARTNER)
    partner.on(Operation.INQUIRE, IN_PROCESS)
    partner.on(Operation.CANCEL, CANCELLED)
    await services.resolver.resolve(payment_id)  # inquires until the code expires, then cancels
    expired = await services.payment(payment_id)
    assert expired.status is PaymentStatus.FAILED
    assert expired.failure is not None and expired.failure.code == FailureCode.CODE_EXPIRED
    [cancel] = partner.asked(Operation.CANCEL)
    lifetime = services.ctx.settings.durations.order_code_lifetime
    assert cancel.at is not None and cancel.at >= START + lifetime
    assert len(partner.asked(Operation.INQUIRE)) > 1
    # a late "paid" contradicts what the partner confirmed: refused loudly, never booked
    assert (await services.notify(PARTNER, _said(services, PAID))).status == 503
    assert (await services.payment(payment_id)).status is PaymentStatus.FAILED
    assert await services.journal(payment_id) == []


async def test_a_declined_or_unknown_order_code(services: Services) -> None:
    partner = services.partner(PARTNER)
    partner.on(Operation.ORDER_CODE, Outcome.failed(FailureCode.PARTNER_DECLINED))
    declined = body(await services.present())
    assert declined["status"] == "failed" and declined["next_action"] is None
    partner.on(Operation.ORDER_CODE, TIMED_OUT)
    unknown = body(await services.present())
    assert unknown["status"] == "processing" and unknown["next_action"] is None
    partner.on(Operation.INQUIRE, IN_PROCESS)
    partner.on(Operation.CANCEL, CANCELLED)
    await services.resolver.resolve(str(unknown["id"]))  # a code may be pending: cancelled
    ended = await services.payment(str(unknown["id"]))
    assert ended.failure is not None
    assert ended.failure.code == FailureCode.CANCELLED_AFTER_TIMEOUT


async def test_a_notification_outranks_the_resolvers_inquiry(services: Services) -> None:
    shown = await _shown(services)
    payment_id = str(shown["id"])
    partner = services.partner(PARTNER)
    inquiry = Held()
    partner.on(Operation.INQUIRE, inquiry)
    resolving = asyncio.create_task(services.resolver.resolve(payment_id))
    await inquiry.arrived.wait()  # the resolver holds the payment's lease, asking
    assert (await services.notify(PARTNER, _said(services, PAID))).status == 200
    inquiry.give(IN_PROCESS)  # its answer comes after the notification
    await resolving
    paid = await services.payment(payment_id)
    assert paid.status is PaymentStatus.SUCCEEDED
    assert partner.asked(Operation.CANCEL) == []
    assert await services.journal(payment_id) == ["payment"]


async def test_a_merchant_cancel_closes_the_code(services: Services) -> None:
    shown = await _shown(services)
    payment_id = str(shown["id"])
    partner = services.partner(PARTNER)
    partner.on(Operation.CANCEL, CANCELLED)
    cancelled = await services.cancel(payment_id)
    assert cancelled.status == 200 and body(cancelled)["status"] == "cancelled", cancelled.body
    assert body(cancelled)["next_action"] is None
    assert (
        await services.notify(PARTNER, _said(services, Outcome.failed(FailureCode.PAYMENT_EXPIRED)))
    ).status == 200
    # a "paid" after the cancel was never known paid here: refused loudly (an operator looks),
    # never dropped as old news, and nothing booked
    assert (await services.notify(PARTNER, _said(services, PAID))).status == 503
    assert (await services.payment(payment_id)).status is PaymentStatus.CANCELLED
    assert await services.journal(payment_id) == []


async def test_a_scan_paid_while_the_expiry_cancel_was_on_its_way_is_reversed(
    services: Services,
) -> None:
    """The tourist pays just before the code expires; the resolver's cancel is already on its
    way: the notification books the payment, the partner then reverses it, so the gateway
    reverses it too (never a payment booked paid that the partner undid)."""
    shown = await _shown(services)
    payment_id = str(shown["id"])
    partner = services.partner(PARTNER)
    partner.on(Operation.INQUIRE, IN_PROCESS)
    cancelling = Held()
    partner.on(Operation.CANCEL, cancelling)
    resolving = asyncio.create_task(services.resolver.resolve(payment_id))
    await cancelling.arrived.wait()  # the code expired: the resolver is cancelling it
    assert (await services.notify(PARTNER, _said(services, PAID))).status == 200
    cancelling.give(CANCELLED)  # ...and the partner's cancel reversed the payment
    await resolving
    paid = await services.payment(payment_id)
    assert paid.status is PaymentStatus.SUCCEEDED and paid.cancel_status is not None
    partner.on(Operation.CANCEL, CANCELLED)
    await services.resolver.resolve(payment_id)  # the cancel flow undoes it here too
    undone = await services.payment(payment_id)
    assert undone.status is PaymentStatus.CANCELLED
    assert await services.journal(payment_id) == ["payment", "reversal"]
    assert set((await services.balances(payment_id)).values()) == {0}
    await services.assert_books_balance()


async def test_a_scan_paid_while_an_unanswered_expiry_cancel_may_have_landed_is_reversed(
    services: Services,
) -> None:
    """The resolver's cancel at the code's expiry gets no answer (it may have reached the
    partner, which then reverses any payment); a notification of the tourist's scan takes the
    payment: it sees the cancel noted before it was sent and books the payment with its cancel
    pending, which the cancel flow then finishes (never paid here while undone there)."""
    shown = await _shown(services)
    payment_id = str(shown["id"])
    partner = services.partner(PARTNER)
    partner.on(Operation.INQUIRE, IN_PROCESS)
    cancelling = Held()
    partner.on(Operation.CANCEL, cancelling)
    resolving = asyncio.create_task(services.resolver.resolve(payment_id))
    await cancelling.arrived.wait()
    assert (await services.notify(PARTNER, _said(services, PAID))).status == 200
    cancelling.give(TIMED_OUT)  # the cancel's answer is lost
    await resolving  # its next look finds the lease gone: it stops there
    paid = await services.payment(payment_id)
    assert paid.status is PaymentStatus.SUCCEEDED and paid.cancel_status is not None
    partner.on(Operation.CANCEL, CANCELLED)
    await services.resolver.resolve(payment_id)
    undone = await services.payment(payment_id)
    assert undone.status is PaymentStatus.CANCELLED
    assert await services.journal(payment_id) == ["payment", "reversal"]
    await services.assert_books_balance()


async def test_a_paid_scan_with_no_cancel_sent_stays_paid(services: Services) -> None:
    """The converse: inquiries only (no cancel ever sent), then the notification: paid, with
    nothing to undo."""
    shown = await _shown(services)
    payment_id = str(shown["id"])
    partner = services.partner(PARTNER)
    inquiry = Held()
    partner.on(Operation.INQUIRE, inquiry)
    resolving = asyncio.create_task(services.resolver.resolve(payment_id))
    await inquiry.arrived.wait()
    assert (await services.notify(PARTNER, _said(services, PAID))).status == 200
    inquiry.give(TIMED_OUT)
    await resolving
    paid = await services.payment(payment_id)
    assert paid.status is PaymentStatus.SUCCEEDED and paid.cancel_status is None
    assert partner.asked(Operation.CANCEL) == []


async def test_work_that_lost_the_lease_writes_nothing_even_in_the_same_process(
    services: Services,
) -> None:
    """The POS request waits on the partner for the code; meanwhile the tourist pays (the
    notification takes the payment) and the merchant cancels it (the cancel flow, in this same
    process, takes the lease). The code's late answer must not write over any of it: a lease
    is checked by the name it was taken under, not by the process."""
    partner = services.partner(PARTNER)
    issuing = Held()
    partner.on(Operation.ORDER_CODE, issuing)
    presenting = asyncio.create_task(services.present())
    await issuing.arrived.wait()
    [call] = partner.asked(Operation.ORDER_CODE)
    request = call.request
    assert isinstance(request, OrderCodeRequest)
    payment_id = request.reference
    said = PaymentNotification(request.partner_request_id, PAID, request.payer_amount)
    assert (await services.notify(PARTNER, said)).status == 200
    undoing = Held()
    partner.on(Operation.CANCEL, undoing)
    cancelling = asyncio.create_task(services.cancel(payment_id))
    await undoing.arrived.wait()  # the cancel flow holds the lease now
    issuing.give(OrderCode("https://partner.test/oc/late", request.expires_at, "sp-1"))  # type: ignore[arg-type]
    answer = await presenting
    assert body(answer)["status"] == "succeeded", answer.body
    assert (await services.payment(payment_id)).status is PaymentStatus.SUCCEEDED
    undoing.give(CANCELLED)
    assert body(await cancelling)["status"] == "cancelled"
    ended = await services.payment(payment_id)
    assert ended.status is PaymentStatus.CANCELLED and ended.qr_code is None
    assert await services.journal(payment_id) == ["payment", "reversal"]
    await services.assert_books_balance()


async def test_a_code_the_till_cannot_show_is_not_shown_but_cancelled(services: Services) -> None:
    """A code that comes back already expired, or too long for a QR code: the POS gets no code
    to display, and the resolver cancels whatever may be pending at the partner."""
    partner = services.partner(PARTNER)
    partner.on(Operation.INQUIRE, IN_PROCESS)
    partner.on(Operation.CANCEL, CANCELLED)
    for code in (
        lambda r: OrderCode("https://partner.test/oc/old", r.requested_at, "sp-1"),
        lambda r: OrderCode("\u0e3f" * 800, r.expires_at, "sp-1"),  # 2,400 bytes of UTF-8
    ):
        partner.on(Operation.ORDER_CODE, code)
        answer = body(await services.present())
        assert answer["status"] == "processing" and answer["next_action"] is None, answer
        await services.resolver.resolve(str(answer["id"]))
        ended = await services.payment(str(answer["id"]))
        assert ended.status is PaymentStatus.FAILED and ended.qr_code is None
    assert len(partner.asked(Operation.CANCEL)) == 2


async def test_a_merchant_cancel_wakes_the_resolver_from_its_pause(services: Services) -> None:
    """The resolver holds a shown code's lease between two inquiries; the merchant cancels:
    the cancel is pending (202) and the resolver, woken at once rather than at its next
    inquiry, closes the code at the partner."""
    shown = await _shown(services)
    payment_id = str(shown["id"])
    partner = services.partner(PARTNER)
    partner.on(Operation.INQUIRE, IN_PROCESS)
    partner.on(Operation.CANCEL, CANCELLED)
    pausing, never = asyncio.Event(), asyncio.Event()

    async def long_pause(_seconds: float) -> None:
        pausing.set()
        await never.wait()  # a pause that would outlast the test

    services.ctx.sleep = long_pause
    services.ctx.kick = services.resolver.kick
    services.resolver.kick(payment_id)
    await pausing.wait()  # it inquired once, and pauses holding the lease
    answer = await services.cancel(payment_id)
    assert answer.status == 202 and body(answer)["next_action"] is None, answer.body
    for _ in range(200):  # the woken resolver's few steps, no clock involved
        if (await services.payment(payment_id)).status is PaymentStatus.CANCELLED:
            break
        await asyncio.sleep(0)
    assert (await services.payment(payment_id)).status is PaymentStatus.CANCELLED
    assert len(partner.asked(Operation.INQUIRE)) == 1
    await services.resolver.stop()
