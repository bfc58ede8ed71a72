"""Entry codes (issue #15), the gateway's own rules with the partner scripted, in virtual time:
a store registered with its market's partner; a tourist's entry order makes one `processing`
payment priced as the POS path prices it and is confirmed with its request id and payer
amount; the same order again (however often, however concurrently) gets the same confirmation
and never a second payment; each refusal writes nothing; the partner's notification then books
it, and the merchant's `payment.succeeded` event carries the store; an order never charged is
cancelled at the confirmation's expiry."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
import sqlalchemy as sa

import fx
from adapters import (
    Acknowledgment,
    EntryCode,
    EntryOrder,
    EntryOrderConfirmation,
    EntryOrderRefusal,
    FailureCode,
    InboundRequest,
    Operation,
    Outcome,
    PaymentNotification,
    StoreRegistration,
)
from gateway.bootstrap import running_context
from gateway.core.config import load_settings
from gateway.merchants.admin import AdminError
from gateway.payments import entry as entry_module
from gateway.payments.entry import CONFIRMED, REPEATED, entry_reference, receive_entry_order
from gateway.payments.model import PaymentMethod, PaymentStatus
from gateway.payments.resolver import Resolver
from gateway.payments.views import payment_view
from gateway.quotes.service import price
from gateway.rates.refresher import rate_book
from gateway.storage import payments as repo
from gateway.storage.tables import metadata
from gateway.stores import service as stores
from gateway.stores.model import Store, StoreStatus
from tests.support.scripted import IN_PROCESS, TIMED_OUT, ScriptedPartner
from tests.support.seeding import SIAM_SOUVENIRS, create_merchant
from tests.support.services import START, Services
from tests.support.virtual_time import VirtualTime

PARTNER = "th-siampay"
OTHER = "th-krungpay"
NOTIFY_BASE = "http://gateway.test"
THB = fx.get_currency("THB")
PAID = Outcome.succeeded(partner_reference="sp-entry-1", completed_at=START + timedelta(seconds=30))
CANCELLED = Outcome.succeeded(partner_reference="sp-cancel")

_tables = metadata.tables


class EntryPartner(ScriptedPartner):
    """A scripted partner that also offers entry codes (`adapters._entry`): it registers
    stores (scripted: `on(Operation.ENTRY_CODE, ...)`, by default a code per store), sends the
    entry orders a test makes (`entry_order`), and records each confirmation it is answered."""

    capabilities = ScriptedPartner.capabilities | {Operation.ENTRY_CODE}

    def __init__(self, partner_id: str, clock: Any = None) -> None:
        super().__init__(partner_id, clock)
        self._orders: dict[bytes, EntryOrder] = {}
        self.confirmations: list[EntryOrderConfirmation] = []
        self.on(Operation.ENTRY_CODE, cast(Any, self._code))

    def _code(self, request: StoreRegistration) -> EntryCode:
        return EntryCode(
            f"https://{self.partner_id}.test/store/{request.merchant.store_id}",
            f"ps-{request.merchant.store_id}",
        )

    async def register_store(self, request: StoreRegistration) -> EntryCode | Outcome:
        given = await self._given(Operation.ENTRY_CODE, request)  # type: ignore[arg-type]
        assert isinstance(given, EntryCode | Outcome), given
        return given

    def entry_order(self, order: EntryOrder) -> InboundRequest:
        """The request the partner would send to ask for `order`."""
        body = f"entry-order-{len(self._orders) + 1}".encode()
        self._orders[body] = order
        return InboundRequest("POST", f"/partners/{self.partner_id}/notify", {}, body)

    def read_notification(  # type: ignore[override]
        self, request: InboundRequest, now: datetime
    ) -> PaymentNotification | EntryOrder:
        order = self._orders.get(request.body)
        return order if order is not None else super().read_notification(request, now)

    def confirm_entry_order(
        self, request: InboundRequest, confirmation: EntryOrderConfirmation
    ) -> Acknowledgment:
        assert request.body in self._orders, "confirming an order the partner never sent"
        self.confirmations.append(confirmation)
        refused = confirmation.refusal is not None
        return Acknowledgment(200, {}, b"refused" if refused else b"confirmed")


@contextlib.asynccontextmanager
async def _running(database_url: str) -> AsyncIterator[Services]:
    """`tests.support.services.running_services`, with partners offering entry codes."""
    time = VirtualTime.here(START)
    settings = load_settings(profile="test", env={"DATABASE_URL": database_url})
    env = {
        settings.security.code_hash_key_env: secrets.token_hex(32),
        settings.security.secrets_key_env: secrets.token_hex(32),
    }
    partners: dict[str, ScriptedPartner] = {
        p.id: EntryPartner(p.id, time.clock) for p in settings.partners
    }
    async with running_context(
        settings,
        clock=time.clock,
        env=env,
        resolver=False,
        webhooks=False,
        settlement=False,
        adapters=cast(Any, partners),
    ) as ctx:
        ctx.sleep = time.sleep
        merchant = await repo.get_merchant(ctx.db, await create_merchant(ctx.db, SIAM_SOUVENIRS))
        assert merchant is not None
        yield Services(ctx, time, partners, merchant, Resolver(ctx))
    unscripted = [
        (p.partner_id, c.operation.value) for p in partners.values() for c in p.unscripted
    ]
    assert not unscripted, f"calls nobody scripted: {unscripted}"


@pytest.fixture
async def entry(migrated_database: Path, tmp_path: Path) -> AsyncIterator[Services]:
    import shutil

    path = tmp_path / "gateway.db"
    shutil.copyfile(migrated_database, path)
    async with _running(f"sqlite+aiosqlite:///{path}") as running:
        yield running


def _partner(services: Services, partner_id: str = PARTNER) -> EntryPartner:
    partner = services.partner(partner_id)
    assert isinstance(partner, EntryPartner)
    return partner


async def _store(services: Services, partner: str | None = None) -> Store:
    store = await stores.create_store(
        services.ctx,
        merchant_id=services.merchant.id,
        name="Siam Souvenirs, Khao San Road",
        notify_base=NOTIFY_BASE,
        partner=partner,
    )
    assert store.status is StoreStatus.ACTIVE and store.code is not None
    return store


def _order(
    store_id: str,
    value: int = 125_050,
    *,
    wallet: str = "alipay_cn",
    currency: str = "THB",
    order_id: str | None = None,
) -> EntryOrder:
    return EntryOrder(
        partner_order_id=order_id or f"po-{secrets.token_hex(6)}",
        store_id=store_id,
        amount=fx.Money(value, fx.get_currency(currency)),
        wallet=wallet,
        requested_at=START,
    )


async def _send(
    services: Services, order: EntryOrder, partner_id: str = PARTNER
) -> tuple[Acknowledgment, EntryOrderConfirmation]:
    """`partner_id` asks the gateway for `order`; its answer and the confirmation in it."""
    partner = _partner(services, partner_id)
    ack = await receive_entry_order(services.ctx, partner_id, partner.entry_order(order), order)
    return ack, partner.confirmations[-1]


async def _count(services: Services, table: str) -> int:
    async with services.ctx.db.reader.connect() as conn:
        total = await conn.scalar(sa.select(sa.func.count()).select_from(_tables[table]))
    return int(total or 0)


async def _footprint(services: Services) -> dict[str, int]:
    """How many rows each table a payment writes holds."""
    names = ("payments", "payment_attempts", "quotes", "idempotency_keys", "journal_entries")
    return {name: await _count(services, name) for name in (*names, "events")}


def _verdicts(services: Services, verdict: str, partner: str = PARTNER) -> float:
    value = services.ctx.metrics.registry.get_sample_value(
        "gateway_partner_notifications_total", {"partner": partner, "verdict": verdict}
    )
    return value or 0.0


# --- stores ---------------------------------------------------------------------------------


async def test_a_store_is_registered_with_its_markets_partner(entry: Services) -> None:
    store = await _store(entry)
    assert store.id.startswith("sto_") and store.partner == PARTNER  # Thailand's first
    [call] = _partner(entry).asked(Operation.ENTRY_CODE)
    request = call.request
    assert isinstance(request, StoreRegistration)
    assert request.merchant.store_id == store.id and request.merchant.id == entry.merchant.id
    assert request.currency == "THB" and request.name == "Siam Souvenirs, Khao San Road"
    assert request.notify_url == f"{NOTIFY_BASE}/partners/{PARTNER}/notify"
    assert store.code == f"https://{PARTNER}.test/store/{store.id}"
    assert store.partner_store_id == f"ps-{store.id}"
    assert [s.id for s in await stores.list_stores(entry.ctx.db, entry.merchant.id)] == [store.id]
    # another partner of the market, when asked for
    other = await _store(entry, OTHER)
    assert other.partner == OTHER and _partner(entry, OTHER).asked(Operation.ENTRY_CODE)


async def test_bad_store_input_is_refused_and_writes_nothing(entry: Services) -> None:
    ctx, merchant_id = entry.ctx, entry.merchant.id
    for merchant, name, partner, option in (
        ("mer_nobody", "A shop", None, "--merchant"),
        (merchant_id, "   ", None, "--name"),
        (merchant_id, "x" * 101, None, "--name"),
        (merchant_id, "Tab\there", None, "--name"),
        (merchant_id, "A shop", "jp-sakurapay", "--partner"),  # not licensed in Thailand
    ):
        with pytest.raises(AdminError) as refused:
            await stores.create_store(
                ctx, merchant_id=merchant, name=name, notify_base=NOTIFY_BASE, partner=partner
            )
        assert refused.value.option == option
    assert await _count(entry, "stores") == 0
    assert _partner(entry).asked(Operation.ENTRY_CODE) == []


async def test_a_refused_registration_keeps_nothing_an_unknown_one_stays_pending(
    entry: Services,
) -> None:
    partner = _partner(entry)
    partner.on(Operation.ENTRY_CODE, Outcome.failed(FailureCode.PARTNER_DECLINED))
    with pytest.raises(stores.StoreRegistrationFailed, match="refused"):
        await _store(entry)
    assert await _count(entry, "stores") == 0

    partner.on(Operation.ENTRY_CODE, TIMED_OUT)
    with pytest.raises(stores.StoreRegistrationUnknown) as unknown:
        await _store(entry)
    pending = unknown.value.store
    assert len(partner.asked(Operation.ENTRY_CODE)) == 1 + stores.REGISTRATION_TRIES
    [listed] = await stores.list_stores(entry.ctx.db, entry.merchant.id)
    assert listed.status is StoreStatus.PENDING and listed.code is None
    # an entry order for it is refused (no code was ever printed)
    ack, said = await _send(entry, _order(pending.id))
    assert said.refusal is EntryOrderRefusal.STORE_DISABLED and ack.body == b"refused"

    partner.on(Operation.ENTRY_CODE, cast(Any, partner._code))  # the partner answers again
    registered = await stores.register_store(
        entry.ctx, store_id=pending.id, notify_base=NOTIFY_BASE
    )
    assert registered.status is StoreStatus.ACTIVE and registered.code is not None
    asked = partner.asked(Operation.ENTRY_CODE)
    assert {c.request.merchant.store_id for c in asked[1:]} == {pending.id}  # type: ignore[union-attr]


async def test_a_store_is_disabled_and_enabled(entry: Services) -> None:
    store = await _store(entry)
    disabled = await stores.disable_store(entry.ctx, store.id)
    assert disabled.status is StoreStatus.DISABLED and disabled.code == store.code
    again = await stores.disable_store(entry.ctx, store.id)
    assert again.status is StoreStatus.DISABLED
    enabled = await stores.enable_store(entry.ctx, store.id)
    assert enabled.status is StoreStatus.ACTIVE
    with pytest.raises(AdminError):
        await stores.disable_store(entry.ctx, "sto_nothing")


# --- entry orders ---------------------------------------------------------------------------


async def test_an_entry_order_is_one_processing_payment_confirmed(entry: Services) -> None:
    store = await _store(entry)
    order = _order(store.id)
    ack, said = await _send(entry, order)
    assert ack.status == 200 and ack.body == b"confirmed" and said.refusal is None
    [payment] = (
        await repo.list_payments(
            entry.ctx.db,
            merchant_id=entry.merchant.id,
            merchant_reference=None,
            limit=10,
            starting_after=None,
        )
    )[0]
    [attempt] = await entry.attempts(payment.id)
    assert said.partner_order_id == order.partner_order_id
    assert said.partner_request_id == attempt.partner_request_id
    assert said.payer_amount == payment.payer_amount
    lifetime = entry.ctx.settings.durations.order_code_lifetime
    assert said.expires_at == START + lifetime == payment.resolve_deadline
    assert payment.status is PaymentStatus.PROCESSING
    assert payment.method is PaymentMethod.ENTRY_CODE and payment.store_id == store.id
    assert payment.amount == order.amount and payment.partner == PARTNER
    assert payment.merchant_reference == entry_reference(PARTNER, order.partner_order_id)
    assert payment.lease_owner is None and payment.next_action_at is not None
    assert attempt.partner == PARTNER and attempt.pay_calls == 0
    # priced as the POS path prices it now: the book's mid rate plus the markup, stored
    wallet = entry.ctx.router.wallet("alipay_cn")
    assert wallet is not None
    expected = price(
        entry.ctx,
        merchant=entry.merchant,
        partner=PARTNER,
        amount=order.amount,
        wallet=wallet,
        now=START,
    )
    assert payment.quote is not None and payment.payer_amount == expected.payer_amount
    assert payment.payer_amount.currency.code == "CNY"
    assert (payment.quote.rate, payment.quote.mid_rate, payment.quote.markup_bps) == (
        fx.format_rate(expected.rate),
        fx.format_rate(expected.mid_rate),
        expected.markup_bps,
    )
    assert await repo.get_quote(entry.ctx.db, payment.quote.id) is not None
    view = payment_view(payment)
    assert view["payment_method"] == {"type": "entry_code", "wallet": "alipay_cn"}
    assert view["store_id"] == store.id and view["status"] == "processing"
    assert _verdicts(entry, CONFIRMED) == 1
    # nothing was asked of the partner but the store's registration
    assert entry.partner(PARTNER).operations() == ["entry_code"]


async def test_the_same_order_again_gets_the_same_confirmation(entry: Services) -> None:
    store = await _store(entry)
    order = _order(store.id)
    _ack, first = await _send(entry, order)
    before = await _footprint(entry)
    entry.time.advance(1.0)
    # again and again, at once, and after the store was disabled: one payment, one answer
    again = [await _send(entry, order) for _ in range(3)]
    together = await asyncio.gather(*(_send(entry, order) for _ in range(4)))
    await stores.disable_store(entry.ctx, store.id)
    late = await _send(entry, order)
    for ack, said in [*again, *together, late]:
        assert ack.body == b"confirmed" and said == first
    assert await _footprint(entry) == before
    assert _verdicts(entry, CONFIRMED) == 1 and _verdicts(entry, REPEATED) == 8


@pytest.mark.parametrize("sequential", [False, True])
async def test_deliveries_that_all_miss_each_other_make_one_payment(
    entry: Services, monkeypatch: pytest.MonkeyPatch, sequential: bool
) -> None:
    """Five deliveries of one order, each looking for its payment before any was committed
    (two gateway processes, say): the commit lets one through; the others answer from it."""
    store = await _store(entry)
    order = _order(store.id)
    looked = 0
    real = entry_module._payment_by_reference

    async def not_yet(*args: Any) -> Any:
        nonlocal looked
        looked += 1
        return None if looked <= 5 else await real(*args)

    monkeypatch.setattr(entry_module, "_payment_by_reference", not_yet)
    if sequential:
        answers = [await _send(entry, order) for _ in range(5)]
    else:
        answers = list(await asyncio.gather(*(_send(entry, order) for _ in range(5))))
    confirmations = {said for _ack, said in answers}
    assert len(confirmations) == 1 and next(iter(confirmations)).refusal is None
    footprint = await _footprint(entry)
    assert footprint["payments"] == footprint["quotes"] == footprint["idempotency_keys"] == 1
    assert _verdicts(entry, CONFIRMED) == 1 and _verdicts(entry, REPEATED) == 4


async def test_each_refusal_writes_nothing(entry: Services) -> None:
    store = await _store(entry)
    other_partners = await _store(entry, OTHER)
    disabled = await _store(entry)
    await stores.disable_store(entry.ctx, disabled.id)
    before = await _footprint(entry)
    cases = [
        (_order("sto_nobody"), EntryOrderRefusal.UNKNOWN_STORE),
        (_order(other_partners.id), EntryOrderRefusal.UNKNOWN_STORE),  # th-krungpay's store
        (_order(disabled.id), EntryOrderRefusal.STORE_DISABLED),
        (_order(store.id, wallet="gcash"), EntryOrderRefusal.WALLET_NOT_ACCEPTED),
        (_order(store.id, wallet="no_such_wallet"), EntryOrderRefusal.WALLET_NOT_ACCEPTED),
        (_order(store.id, currency="USD"), EntryOrderRefusal.AMOUNT_INVALID),
        (_order(store.id, 0), EntryOrderRefusal.AMOUNT_INVALID),
        # over th-siampay's CNY limit (50,000.00 CNY) once priced
        (_order(store.id, 40_000_000), EntryOrderRefusal.AMOUNT_INVALID),
    ]
    for order, refusal in cases:
        ack, said = await _send(entry, order)
        assert (said.refusal, ack.body) == (refusal, b"refused"), order
        assert said.partner_request_id is None and said.payer_amount is None and said.message
        assert said.partner_order_id == order.partner_order_id
    assert await _footprint(entry) == before
    assert _verdicts(entry, "entry_unknown_store") == 2
    assert _verdicts(entry, "entry_store_disabled") == 1
    assert _verdicts(entry, "entry_wallet_not_accepted") == 2
    assert _verdicts(entry, "entry_amount_invalid") == 3
    # the other partner's store is not refused by its own partner
    ack, said = await _send(entry, _order(other_partners.id), OTHER)
    assert said.refusal is None and ack.body == b"confirmed"


async def test_no_fresh_rate_is_unavailable_and_writes_nothing(entry: Services) -> None:
    store = await _store(entry)
    before = await _footprint(entry)
    book = entry.ctx.rates
    entry.ctx.rates = rate_book(entry.ctx.settings)  # no set at all: nothing prices
    order = _order(store.id)
    _ack, said = await _send(entry, order)
    assert said.refusal is EntryOrderRefusal.UNAVAILABLE
    assert await _footprint(entry) == before
    # the partner asks again once rates are back: a payment then
    entry.ctx.rates = book
    _ack, said = await _send(entry, order)
    assert said.refusal is None and (await _footprint(entry))["payments"] == 1


async def test_same_currency_wallet_needs_no_quote(entry: Services) -> None:
    store = await _store(entry)
    _ack, said = await _send(entry, _order(store.id, 5_000, wallet="truemoney"))
    assert said.payer_amount == fx.Money(5_000, THB)
    assert await _count(entry, "quotes") == 0


async def test_an_order_id_reused_for_another_order_is_refused(entry: Services) -> None:
    store = await _store(entry)
    order = _order(store.id, order_id="po-1")
    _ack, first = await _send(entry, order)
    before = await _footprint(entry)
    _ack, said = await _send(entry, _order(store.id, 99_900, order_id="po-1"))
    assert said.refusal is EntryOrderRefusal.AMOUNT_INVALID and "differs" in said.message
    assert await _footprint(entry) == before
    assert (await _send(entry, order))[1] == first  # the real one still answered the same


async def test_the_notification_books_it_and_the_event_names_the_store(entry: Services) -> None:
    store = await _store(entry)
    _ack, said = await _send(entry, _order(store.id))
    assert said.partner_request_id is not None and said.payer_amount is not None
    notified = PaymentNotification(said.partner_request_id, PAID, said.payer_amount)
    acks = [await entry.notify(PARTNER, notified) for _ in range(3)]
    assert [a.status for a in acks] == [200] * 3
    [attempt] = await repo.get_attempts(
        entry.ctx.db,
        (await repo.attempt_by_request_id(entry.ctx.db, said.partner_request_id)).payment_id,  # type: ignore[union-attr]
    )
    paid = await entry.payment(attempt.payment_id)
    assert paid.status is PaymentStatus.SUCCEEDED and paid.partner_reference == "sp-entry-1"
    assert await entry.journal(paid.id) == ["payment"]
    async with entry.ctx.db.reader.connect() as conn:
        events = (
            await conn.execute(
                sa.select(_tables["events"].c.type, _tables["events"].c.body).where(
                    _tables["events"].c.object_id == paid.id
                )
            )
        ).all()
    [(kind, raw)] = events
    data = json.loads(raw)["data"]
    assert kind == "payment.succeeded" and data["store_id"] == store.id
    assert data["payment_method"] == {"type": "entry_code", "wallet": "alipay_cn"}
    assert data["payer_amount"] == {"currency": "CNY", "value": said.payer_amount.value}
    await entry.assert_books_balance()
    # a repeat of the order after it was paid: the same confirmation, nothing more
    before = await _footprint(entry)
    order_again = _partner(entry)._orders[b"entry-order-1"]
    assert (await _send(entry, order_again))[1] == said
    assert await _footprint(entry) == before


async def test_an_order_never_charged_is_cancelled_at_its_expiry(entry: Services) -> None:
    store = await _store(entry)
    _ack, said = await _send(entry, _order(store.id))
    assert said.partner_request_id is not None and said.expires_at is not None
    attempt = await repo.attempt_by_request_id(entry.ctx.db, said.partner_request_id)
    assert attempt is not None
    partner = _partner(entry)
    partner.on(Operation.INQUIRE, IN_PROCESS)
    partner.on(Operation.CANCEL, CANCELLED)
    entry.time.advance(entry.ctx.settings.durations.inquiry_initial_interval.total_seconds())
    await entry.resolver.resolve(attempt.payment_id)
    ended = await entry.payment(attempt.payment_id)
    assert ended.status is PaymentStatus.FAILED
    assert ended.failure is not None
    assert ended.failure.code == FailureCode.PAYMENT_EXPIRED  # the tourist never confirmed
    [cancel] = partner.asked(Operation.CANCEL)
    assert cancel.at is not None and cancel.at >= said.expires_at
    assert cancel.request_id == said.partner_request_id
    assert await entry.journal(ended.id) == []


async def test_the_same_order_after_its_payment_ended_is_refused_closed(entry: Services) -> None:
    """Once the payment of an order has ended unpaid (expired and cancelled) or its cancel is
    pending, the same order again gets no confirmation to charge: `order_closed`."""
    store = await _store(entry)
    order = _order(store.id)
    _ack, said = await _send(entry, order)
    assert said.partner_request_id is not None
    attempt = await repo.attempt_by_request_id(entry.ctx.db, said.partner_request_id)
    assert attempt is not None
    partner = _partner(entry)
    partner.on(Operation.INQUIRE, IN_PROCESS)
    partner.on(Operation.CANCEL, CANCELLED)
    await entry.resolver.resolve(attempt.payment_id)  # expired: cancelled at the partner
    assert (await entry.payment(attempt.payment_id)).status is PaymentStatus.FAILED
    before = await _footprint(entry)
    ack, again = await _send(entry, order)
    assert again.refusal is EntryOrderRefusal.ORDER_CLOSED and again.partner_request_id is None
    assert ack.body != b"confirmed"
    assert await _footprint(entry) == before
    assert _verdicts(entry, "entry_order_closed") == 1
