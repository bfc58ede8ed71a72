"""Issue #17: refunds that net to exactly zero, on both databases.

The finance team's scenario, through the real payment and refund services (virtual time, scripted
partners): 400 mixed payments, THB→CNY and THB→KRW at a Thai merchant, JPY→KRW at a Japanese one,
each refunded in random partial steps until full. Before the fix the JPY merchant's batch closed
at −9 JPY (each refund returned round_half_up(refund × mdr) on its own, and several partial returns
add up to more than the payment's fee) and the THB one at +0.16 THB (the last residue refund of a
KRW payment, worth 0 KRW, was refused, so the payment could never be refunded in full).

Now refund fee returns are cumulative, and a residue whose payer amount is 0 is accepted (booked at
once, no partner call) once the tourist has every payer unit back; so once the day is closed, each
merchant batch nets to exactly 0 with 0 fees, each partner batch to minus the fixed fees it kept,
and `ledger verify` finds nothing.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import shutil
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

import fx
from adapters import Operation, Outcome, PaymentCode
from gateway.core.errors import InvalidAmount
from gateway.idempotency import Answer
from gateway.merchants.model import Merchant
from gateway.payments.service import CreatePayment, create_payment
from gateway.refunds.service import create_refund
from gateway.settlement.closing import settle_day
from gateway.settlement.model import BatchType
from gateway.storage import payments as repo
from gateway.storage.migrate import upgrade
from gateway.storage.tables import metadata
from tests.conftest import DATABASES, POSTGRES_SERVER, _admin_sql
from tests.support.seeding import Shop, create_merchant
from tests.support.services import START, Services, body, running_services

KYOTO_CRAFTS = Shop("Kyoto Crafts", "JP", "JPY", "Asia/Tokyo", mdr_bps=150)
PAYMENTS = {"thb_cny": 150, "thb_krw": 100, "jpy_krw": 150}  # 400 in all
SEED = 17


@pytest.fixture(params=DATABASES)
def database(
    request: pytest.FixtureRequest, migrated_database: Path, tmp_path: Path
) -> Iterator[str]:
    """A database of its own (`ledger verify` and the batches read whole tables)."""
    if request.param == "sqlite":
        path = tmp_path / "gateway.db"
        shutil.copyfile(migrated_database, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    request.getfixturevalue("postgresql_url")  # skips (or fails in CI) without a server
    name = f"gw_test_{secrets.token_hex(6)}"
    asyncio.run(_admin_sql(f'CREATE DATABASE "{name}"'))
    url = POSTGRES_SERVER.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    yield url
    asyncio.run(_admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def running(database: str) -> AsyncIterator[Services]:
    async with running_services(database) as services:
        for partner in ("th-siampay", "jp-sakurapay"):
            services.partner(partner).on(Operation.PAY, Outcome.succeeded(partner_reference="p"))
            services.partner(partner).on(Operation.REFUND, Outcome.succeeded(partner_reference="r"))
        yield services


def _code(prefix: str) -> str:
    return prefix + "".join(secrets.choice("0123456789") for _ in range(12)) + "0000"


async def _pay(services: Services, merchant: Merchant, value: int, prefix: str) -> str:
    key = secrets.token_hex(8)
    answer = await create_payment(
        services.ctx,
        merchant=merchant,
        key=key,
        request_hash=key,
        command=CreatePayment(
            merchant_reference=f"R-{key}",
            amount=fx.Money(value, fx.get_currency(merchant.currency)),
            code=PaymentCode(_code(prefix)),
        ),
        started_at=asyncio.get_running_loop().time(),
    )
    paid = body(answer)
    assert paid["status"] == "succeeded", paid
    return str(paid["id"])


async def _refund(services: Services, merchant: Merchant, payment_id: str, value: int) -> Answer:
    key = secrets.token_hex(8)
    return await create_refund(
        services.ctx,
        merchant=merchant,
        key=key,
        request_hash=key,
        payment_id=payment_id,
        amount=fx.Money(value, fx.get_currency(merchant.currency)),
        reason=None,
        started_at=asyncio.get_running_loop().time(),
    )


def _steps(rng: random.Random, value: int) -> list[int]:
    """`value` in 1 to 5 random partial refunds; often a last one of 1 or 2 minor units (the
    residue a finance team ends with)."""
    cuts = sorted(rng.sample(range(1, value), rng.randint(0, min(4, value - 1))))
    steps = [b - a for a, b in zip([0, *cuts], [*cuts, value], strict=True)]
    if rng.random() < 0.4 and steps[-1] > 2:
        tail = rng.choice((1, 2))
        steps[-1] -= tail
        steps.append(tail)
    return steps


async def _refund_in_full(
    services: Services, merchant: Merchant, payment_id: str, value: int, rng: random.Random
) -> Counter[str]:
    """Refund in random partial steps until full; a step worth 0 payer units while the tourist
    is still owed some is refused (`invalid_amount`) and joins the next one, as a POS would."""
    seen: Counter[str] = Counter()
    carried = 0
    steps = _steps(rng, value)
    for n, step in enumerate(steps):
        amount = carried + step
        try:
            answer = await _refund(services, merchant, payment_id, amount)
        except InvalidAmount:
            assert n < len(steps) - 1, "the last step (the residue) is always accepted"
            seen["refused_zero"] += 1
            carried = amount
            continue
        carried = 0
        refund = body(answer)
        assert refund["status"] == "succeeded", refund
        seen["refunds"] += 1
        if _value(refund["payer_amount"]) == 0:
            seen["residues"] += 1
    return seen


def _value(amount: dict[str, object]) -> int:
    return int(str(amount["value"]))


async def test_four_hundred_payments_refunded_in_steps_net_to_exactly_zero(
    running: Services,
) -> None:
    services, ctx = running, running.ctx
    thb = services.merchant
    jpy = await repo.get_merchant(ctx.db, await create_merchant(ctx.db, KYOTO_CRAFTS))
    assert jpy is not None
    rng = random.Random(SEED)
    made: list[tuple[Merchant, str, int]] = []
    for kind, count in PAYMENTS.items():
        for _ in range(count):
            if kind == "jpy_krw":
                merchant, value, prefix = jpy, rng.randint(300, 150_000), "81"
            else:
                merchant, value = thb, rng.randint(10_000, 500_000)
                prefix = "28" if kind == "thb_cny" else "81"
            made.append((merchant, await _pay(services, merchant, value, prefix), value))

    seen: Counter[str] = Counter()
    for merchant, payment_id, value in made:
        seen += await _refund_in_full(services, merchant, payment_id, value, rng)

    # Every payment is refunded in full, and the tourist got back exactly what they paid.
    refunds = metadata.tables["refunds"]
    async with ctx.db.reader.connect() as conn:
        payer_back = dict(
            (
                await conn.execute(
                    sa.select(refunds.c.payment_id, sa.func.sum(refunds.c.payer_value))
                    .where(refunds.c.status == "succeeded")
                    .group_by(refunds.c.payment_id)
                )
            ).all()
        )
    for _merchant, payment_id, value in made:
        payment = await services.payment(payment_id)
        assert payment.refunded_value == value, payment_id
        assert int(payer_back[payment_id]) == payment.payer_amount.value, payment_id
    assert seen["residues"] > 0 and seen["refunds"] > 2 * len(made), seen

    # Close the day: each merchant batch nets to exactly 0 with no fees; each partner batch to
    # minus the fixed fees it kept (th-siampay keeps 0.10 CNY a payment; none in KRW).
    day = (START + timedelta(hours=7)).date()  # the business date in Bangkok and Tokyo
    settled = await settle_day(
        ctx.db, ctx.settings, day=day, now=START + timedelta(days=2), closed_by="test", force=True
    )
    batches = {(s.key.type, s.key.owner, s.key.currency): s.batch for s in settled}
    assert {k for k in batches if k[0] is BatchType.MERCHANT} == {
        (BatchType.MERCHANT, thb.id, "THB"),
        (BatchType.MERCHANT, jpy.id, "JPY"),
    }
    for key, batch in batches.items():
        assert batch is not None
        totals = batch.totals
        assert totals.payments_amount == totals.refunds_amount, key
        if key[0] is BatchType.MERCHANT:
            assert (totals.net, totals.fees) == (0, 0), (key, totals)
    cny_fixed = ctx.settings.partner("th-siampay").fees.fixed["CNY"]
    siam_cny = batches[(BatchType.PARTNER, "th-siampay", "CNY")]
    assert siam_cny is not None and siam_cny.totals.net == -cny_fixed * PAYMENTS["thb_cny"]
    for owner in ("th-siampay", "jp-sakurapay"):
        krw = batches[(BatchType.PARTNER, owner, "KRW")]
        assert krw is not None and krw.totals.net == 0, (owner, krw.totals)
    await services.assert_books_balance()
