"""The services as the gateway runs them, for service-layer unit tests.

`running_services` builds the `Context` with `gateway.bootstrap.running_context`, as the gateway
does, over a real SQLite file, with three things a test controls: the partners are
`ScriptedPartner`s (`tests/support/scripted.py`), time is virtual (`Context.sleep` and the clock,
`tests/support/virtual_time.py`), and no background worker runs: the test calls the resolver
itself, when its story says the resolver would look. `Services` then drives the real entry
points (`create_payment`, `cancel_payment`, `create_refund`, `Resolver.resolve*`) for one Thai
merchant, and reads back what they stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

import fx
from adapters import Acknowledgment, PaymentCode, PaymentNotification
from gateway.bootstrap import running_context
from gateway.context import Context
from gateway.core.config import load_settings
from gateway.idempotency import Answer
from gateway.ledger.verify import verify_ledger
from gateway.merchants.model import Merchant
from gateway.payments.cancels import cancel_payment
from gateway.payments.model import Attempt, Payment
from gateway.payments.notifications import receive_notification
from gateway.payments.resolver import Resolver
from gateway.payments.service import CreatePayment, create_payment
from gateway.refunds.model import Refund, RefundKind
from gateway.refunds.service import create_refund
from gateway.storage import payments as repo
from gateway.storage import rows
from gateway.storage.tables import metadata
from tests.support.scripted import ScriptedPartner
from tests.support.seeding import SIAM_SOUVENIRS, create_merchant
from tests.support.virtual_time import VirtualTime

__all__ = ["START", "Services", "body", "running_services", "wallet_code"]

START = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
"""10:00 in Bangkok: every business day involved is open."""

_entries = metadata.tables["journal_entries"]
_lines = metadata.tables["journal_lines"]
_refunds = metadata.tables["refunds"]


def wallet_code(last4: str = "0000") -> str:
    """An Alipay (CNY) wallet code: Thailand routes it to th-siampay, then th-krungpay."""
    return "28" + "".join(secrets.choice("0123456789") for _ in range(12)) + last4


@dataclasses.dataclass
class Services:
    """One Thai merchant's requests to the real services, and what they stored."""

    ctx: Context
    time: VirtualTime
    partners: dict[str, ScriptedPartner]
    merchant: Merchant
    resolver: Resolver

    def partner(self, partner_id: str) -> ScriptedPartner:
        return self.partners[partner_id]

    async def pay(self, value: int = 125_050, *, code: str | None = None) -> Answer:
        """`POST /v1/payments` of THB `value` (minor units), as the handler calls the service."""
        key = secrets.token_hex(8)
        command = CreatePayment(
            merchant_reference=f"R-{key}",
            amount=fx.Money(value, fx.get_currency("THB")),
            code=PaymentCode(code or wallet_code()),
        )
        return await create_payment(
            self.ctx,
            merchant=self.merchant,
            key=key,
            request_hash=key,
            command=command,
            started_at=asyncio.get_running_loop().time(),
        )

    async def present(self, value: int = 125_050, *, wallet: str = "alipay_cn") -> Answer:
        """`POST /v1/payments` of a merchant-presented code (`payment_method: merchant_qr`)."""
        key = secrets.token_hex(8)
        command = CreatePayment(
            merchant_reference=f"R-{key}",
            amount=fx.Money(value, fx.get_currency("THB")),
            code=None,
            wallet=wallet,
            notify_base="http://gateway.test",
        )
        return await create_payment(
            self.ctx,
            merchant=self.merchant,
            key=key,
            request_hash=key,
            command=command,
            started_at=asyncio.get_running_loop().time(),
        )

    async def notify(self, partner_id: str, said: PaymentNotification) -> Acknowledgment:
        """`partner_id` tells the gateway `said`, as its notification would."""
        partner = self.partner(partner_id)
        return await receive_notification(self.ctx, partner_id, partner.notification(said))

    async def cancel(self, payment_id: str) -> Answer:
        """`POST /v1/payments/{id}/cancel`."""
        key = secrets.token_hex(8)
        return await cancel_payment(
            self.ctx,
            merchant=self.merchant,
            key=key,
            request_hash=key,
            payment_id=payment_id,
            started_at=asyncio.get_running_loop().time(),
        )

    async def refund(self, payment_id: str, value: int) -> Answer:
        """`POST /v1/payments/{id}/refunds` of THB `value` (minor units)."""
        key = secrets.token_hex(8)
        return await create_refund(
            self.ctx,
            merchant=self.merchant,
            key=key,
            request_hash=key,
            payment_id=payment_id,
            amount=fx.Money(value, fx.get_currency("THB")),
            reason=None,
            started_at=asyncio.get_running_loop().time(),
        )

    async def payment(self, payment_id: str) -> Payment:
        stored = await repo.get_payment(self.ctx.db, payment_id)
        assert stored is not None, payment_id
        return stored

    async def attempts(self, payment_id: str) -> list[Attempt]:
        return await repo.get_attempts(self.ctx.db, payment_id)

    async def refunds(
        self, payment_id: str, kind: RefundKind = RefundKind.MERCHANT
    ) -> list[Refund]:
        """The payment's refunds of `kind` (a merchant's, or a cancel's own), oldest first."""
        stmt = (
            sa.select(_refunds)
            .where(_refunds.c.payment_id == payment_id, _refunds.c.kind == kind.value)
            .order_by(_refunds.c.created_at, _refunds.c.id)
        )
        async with self.ctx.db.reader.connect() as conn:
            return [rows.refund(r) for r in (await conn.execute(stmt)).mappings()]

    async def journal(self, payment_id: str) -> list[str]:
        """The kinds of the payment's journal entries, in the order they were written."""
        stmt = (
            sa.select(_entries.c.kind)
            .where(_entries.c.payment_id == payment_id)
            .order_by(_entries.c.created_at, _entries.c.id)
        )
        async with self.ctx.db.reader.connect() as conn:
            return [str(kind) for kind in (await conn.scalars(stmt)).all()]

    async def balances(self, payment_id: str) -> dict[tuple[str, str], int]:
        """What the payment's journal lines leave on each (account, currency)."""
        stmt = (
            sa.select(_lines.c.account, _lines.c.currency, sa.func.sum(_lines.c.amount))
            .where(_lines.c.payment_id == payment_id)
            .group_by(_lines.c.account, _lines.c.currency)
        )
        async with self.ctx.db.reader.connect() as conn:
            return {(a, c): int(total) for a, c, total in (await conn.execute(stmt)).all()}

    async def assert_books_balance(self) -> None:
        """`gateway ledger verify` over everything the test wrote."""
        report = await verify_ledger(self.ctx.db, self.ctx.settings)
        assert report.ok, report.summary()


def body(answer: Answer) -> dict[str, Any]:
    """An answer's JSON body."""
    parsed: dict[str, Any] = json.loads(answer.body)
    return parsed


@contextlib.asynccontextmanager
async def running_services(database_url: str) -> AsyncIterator[Services]:
    """The services on the migrated database at `database_url`, in virtual time from `START`,
    every configured partner scripted. On exit, a call nobody scripted fails the test."""
    time = VirtualTime.here(START)
    settings = load_settings(profile="test", env={"DATABASE_URL": database_url})
    env = {
        settings.security.code_hash_key_env: secrets.token_hex(32),
        settings.security.secrets_key_env: secrets.token_hex(32),
    }
    partners = {p.id: ScriptedPartner(p.id, time.clock) for p in settings.partners}
    async with running_context(
        settings,
        clock=time.clock,
        env=env,
        resolver=False,
        webhooks=False,
        settlement=False,
        adapters=partners,
    ) as ctx:
        ctx.sleep = time.sleep
        merchant = await repo.get_merchant(ctx.db, await create_merchant(ctx.db, SIAM_SOUVENIRS))
        assert merchant is not None
        yield Services(ctx, time, partners, merchant, Resolver(ctx))
    unscripted = [
        (p.partner_id, c.operation.value) for p in partners.values() for c in p.unscripted
    ]
    assert not unscripted, f"calls nobody scripted: {unscripted}"
