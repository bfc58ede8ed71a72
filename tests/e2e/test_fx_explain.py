"""`gateway fx explain`: every payment's payer amount recomputed from stored data alone."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from gateway.cli import main
from gateway.storage.db import open_database
from tests.conftest import DATABASES, own_database
from tests.e2e.conftest import Gateway, code


@pytest.fixture(scope="module", params=DATABASES)
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """Its own database: the test tampers with a payment, which `ledger verify` elsewhere
    would rightly report."""
    yield from own_database(request)


async def test_explain_recomputes_every_payer_amount(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", gateway.settings.database.url)
    monkeypatch.setenv("GATEWAY_PROFILE", "test")
    paid = {}
    for wallet_prefix, value in (("28", 125050), ("28", 1003), ("81", 9999999)):  # CNY, KRW
        answer = await gateway.pay(code(wallet_prefix, "0000"), value)
        assert answer.status == 201, answer.body
        paid[answer.body["id"]] = answer.body
    cli = CliRunner()  # in a thread: the command runs its own event loop
    for payment_id, body in paid.items():
        result = await asyncio.to_thread(cli.invoke, main, ["fx", "explain", payment_id])
        assert result.exit_code == 0, result.output
        out = result.output
        assert f"= {body['payer_amount']['value']}  [ok]" in out
        assert f"= {body['quote']['rate']}  [ok]" in out
        assert "rate set rs_" in out and "recomputed from stored data: matches" in out

    # a payer amount that does not follow from its quote is caught
    payment_id = next(iter(paid))
    db = open_database(gateway.settings.database.url)
    try:
        async with db.writer.connect() as conn, conn.begin():
            await conn.execute(
                sa.text("UPDATE payments SET payer_value = payer_value + 1 WHERE id = :id"),
                {"id": payment_id},
            )
    finally:
        await db.dispose()
    tampered = await asyncio.to_thread(cli.invoke, main, ["fx", "explain", payment_id])
    assert tampered.exit_code == 1
    assert "MISMATCH" in tampered.output and "DIFFERS" in tampered.output

    missing = await asyncio.to_thread(cli.invoke, main, ["fx", "explain", "pay_nope"])
    assert missing.exit_code == 1 and "no payment pay_nope" in missing.output
