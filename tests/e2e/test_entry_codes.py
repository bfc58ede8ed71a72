"""Entry codes end to end (issue #15), once per protocol family and database, over real HTTP:
the operator creates a store with `gateway stores create` (which registers it with the sandbox
partner and writes its QR), the test plays the tourist (`POST /_sandbox/scan` with the static
code, the typed amount and the wallet), the sandbox asks the gateway for the order at the
store's notify URL, charges the payer amount the gateway confirmed and notifies it; the payment
ends `succeeded` with the store's id, and the merchant's webhook says `payment.succeeded`. An
unknown or disabled store is refused: nothing booked, nothing charged.

The rules one by one (repeats, refusals, pricing) are tested in virtual time in
tests/unit/gateway/services/test_service_entry.py."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from adapters import EntryCode, MerchantInfo, StoreRegistration, SystemClock, new_http_client
from gateway.bootstrap import one_partner_calls
from gateway.merchants import admin
from gateway.storage import payments as repo
from gateway.storage.db import open_database
from tests.e2e._receiver import Receiver, database, running_receiver, secret_box
from tests.e2e.conftest import Answer, Gateway
from tests.support.families import MERCHANT_FAMILIES
from tests.support.waiting import eventually

pytestmark = pytest.mark.usefixtures("protocol_family")

WALLET = "alipay_cn"  # the tourist pays in CNY
_LABELS = {"th_pos": "th", "ph_pos": "ph"}


def _merchant(gateway: Gateway, family: str) -> str:
    return gateway.merchants[_LABELS[MERCHANT_FAMILIES[family].key]]


async def _cli(gateway: Gateway, *args: str) -> Result:
    """`gateway ARGS` with the running gateway's settings (its sandboxes' URLs) and
    environment (their credentials), in a thread: the command runs its own event loop."""
    from click.testing import CliRunner

    from gateway.cli import main

    runner = CliRunner()
    return await asyncio.to_thread(
        runner.invoke,
        main,
        list(args),
        obj={"settings": gateway.settings},
        env=gateway.env,
    )


async def _create_store(
    gateway: Gateway, family: str, tmp_path: Path | None = None
) -> tuple[str, str]:
    """`gateway stores create` for the family's merchant: (store id, its static code)."""
    outs: list[str] = []
    if tmp_path is not None:
        outs = ["--qr-out", str(tmp_path / "store.svg"), "--qr-out", str(tmp_path / "store.png")]
    made = await _cli(
        gateway,
        "stores",
        "create",
        "--merchant",
        _merchant(gateway, family),
        "--name",
        f"Entry store {secrets.token_hex(3)}",
        "--public-url",
        gateway.url,
        *outs,
    )
    assert made.exit_code == 0, made.output
    store_id, code = made.stdout.splitlines()[:2]
    assert store_id.startswith("sto_") and code
    return store_id, code


async def _scan(
    gateway: Gateway, family: str, code: str, amount: str = "1250.50", **options: Any
) -> Answer:
    """The tourist scans the store's code, types `amount` and pays with their wallet."""
    sandbox = gateway.sandboxes.urls[MERCHANT_FAMILIES[family].partner]
    body = {"code": code, "amount": amount, "wallet": WALLET, **options}
    async with gateway.session.post(sandbox + "/_sandbox/scan", json=body) as answer:
        return Answer(answer.status, await answer.json(content_type=None), dict(answer.headers))


async def _payment_of(gateway: Gateway, request_id: str) -> str:
    """The payment whose attempt the partner charged under `request_id`."""
    db = open_database(gateway.settings.database.url)
    try:
        attempt = await repo.attempt_by_request_id(db, request_id)
    finally:
        await db.dispose()
    assert attempt is not None, request_id
    return attempt.payment_id


async def _store_payments(gateway: Gateway, family: str, store_id: str) -> list[dict[str, Any]]:
    key = MERCHANT_FAMILIES[family].key
    listed = await gateway.read("/v1/payments?limit=100", key=key)
    return [p for p in listed["data"] if p["store_id"] == store_id]


async def _verdicts(gateway: Gateway, partner: str) -> dict[str, float]:
    """`gateway_partner_notifications_total` of `partner`, by verdict."""
    async with gateway.session.get(gateway.url + "/metrics") as answer:
        text = await answer.text()
    pattern = rf'gateway_partner_notifications_total{{partner="{partner}",verdict="(\w+)"}} (\S+)'
    return {verdict: float(value) for verdict, value in re.findall(pattern, text)}


@pytest.fixture
async def receiver(gateway: Gateway, protocol_family: str) -> AsyncIterator[Receiver]:
    """The family merchant's webhook endpoint."""
    async with (
        running_receiver(Receiver()) as running,
        database(gateway.settings.database.url) as db,
    ):
        secret = await admin.set_webhook(
            db,
            secret_box(gateway),
            merchant_id=_merchant(gateway, protocol_family),
            url=running.url,
        )
        assert secret is not None
        running.secrets = [secret]
        yield running


async def test_a_store_made_by_the_cli_is_paid_and_the_merchant_told(
    gateway: Gateway, protocol_family: str, receiver: Receiver, tmp_path: Path
) -> None:
    family = MERCHANT_FAMILIES[protocol_family]
    store_id, code = await _create_store(gateway, protocol_family, tmp_path)
    assert (tmp_path / "store.svg").read_bytes().startswith(b"<?xml")
    assert (tmp_path / "store.png").read_bytes().startswith(b"\x89PNG")
    listed = await _cli(
        gateway, "stores", "list", "--merchant", _merchant(gateway, protocol_family), "--json"
    )
    assert listed.exit_code == 0, listed.output
    stores = {s["id"]: s for s in map(json.loads, listed.stdout.splitlines())}
    assert stores[store_id]["status"] == "active" and stores[store_id]["code"] == code
    assert stores[store_id]["partner"] == family.partner

    scanned = await _scan(gateway, protocol_family, code, "1250.50", suffix="0000")
    assert scanned.status == 200 and scanned.body["charged"] is True, scanned.body
    [answer] = scanned.body["entry_order"]["answers"]
    assert answer["confirmed"] is True, answer
    payment_id = await _payment_of(gateway, answer["partner_request_id"])
    paid = await gateway.wait_final(payment_id, key=family.key, timeout=15.0)
    assert paid["status"] == "succeeded", paid
    assert paid["store_id"] == store_id and paid["partner"] == family.partner
    assert paid["payment_method"] == {"type": "entry_code", "wallet": WALLET}
    assert paid["amount"] == {"currency": family.currency, "value": 125050}
    assert paid["payer_amount"] == answer["payer_amount"]
    assert paid["quote"] is not None and paid["payer_amount"]["currency"] == "CNY"
    ledger = gateway.ledger(family.partner)
    assert ledger.charges_for(answer["partner_request_id"]) == 1

    async def told() -> dict[str, Any] | None:
        for got in receiver.received:
            event: dict[str, Any] = json.loads(got.body)
            if event["data"]["id"] == payment_id:
                return event
        return None

    event = await eventually(told, timeout=10.0, failure=lambda: "no webhook for the payment")
    assert event["type"] == "payment.succeeded"
    assert event["data"]["store_id"] == store_id
    assert event["data"]["payment_method"] == {"type": "entry_code", "wallet": WALLET}


async def test_the_same_entry_order_twice_is_one_payment_charged_once(
    gateway: Gateway, protocol_family: str
) -> None:
    family = MERCHANT_FAMILIES[protocol_family]
    store_id, code = await _create_store(gateway, protocol_family)
    scanned = await _scan(gateway, protocol_family, code, "99.00", entry_twice=True)
    assert scanned.status == 200 and scanned.body["charged"] is True, scanned.body
    first, second = scanned.body["entry_order"]["answers"]
    assert first["confirmed"] and second["confirmed"]
    assert (first["partner_request_id"], first["payer_amount"]) == (
        second["partner_request_id"],
        second["payer_amount"],
    )
    payment_id = await _payment_of(gateway, first["partner_request_id"])
    paid = await gateway.wait_final(payment_id, key=family.key, timeout=15.0)
    assert paid["status"] == "succeeded"
    assert [p["id"] for p in await _store_payments(gateway, protocol_family, store_id)] == [
        payment_id
    ]
    assert gateway.ledger(family.partner).charges_for(first["partner_request_id"]) == 1


async def test_unknown_and_disabled_stores_are_refused_and_nothing_charged(
    gateway: Gateway, protocol_family: str
) -> None:
    family = MERCHANT_FAMILIES[protocol_family]
    merchant_id = _merchant(gateway, protocol_family)
    ledger = gateway.ledger(family.partner)
    before = len(ledger.entries)
    key = family.key
    payments_before = len((await gateway.read("/v1/payments?limit=100", key=key))["data"])

    # disabled with the command line: refused; enabled again: paid
    store_id, code = await _create_store(gateway, protocol_family)
    disabled = await _cli(gateway, "stores", "disable", store_id)
    assert disabled.exit_code == 0 and "disabled" in disabled.stdout, disabled.output
    refused = await _scan(gateway, protocol_family, code)
    assert refused.status == 200, refused.body
    assert refused.body["state"] == "refused" and refused.body["charged"] is False

    # a store the partner holds but the gateway never made (its notify URL is ours)
    async with new_http_client() as http:
        calls = one_partner_calls(
            gateway.settings, family.partner, http=http, clock=SystemClock(), env=gateway.env
        )
        ghost = await calls.register_store(
            family.partner,
            StoreRegistration(
                merchant=MerchantInfo(
                    id=merchant_id,
                    name="Ghost",
                    country=gateway.settings.partner(family.partner).markets[0],
                    store_id=f"sto_ghost{secrets.token_hex(8)}",
                ),
                name="Ghost store",
                currency=family.currency,
                notify_url=f"{gateway.url}/partners/{family.partner}/notify",
            ),
        )
    assert isinstance(ghost, EntryCode), ghost
    unknown = await _scan(gateway, protocol_family, ghost.code)
    assert unknown.status == 200, unknown.body
    assert unknown.body["state"] == "refused" and unknown.body["charged"] is False

    assert len(ledger.entries) == before  # nothing charged
    after = (await gateway.read("/v1/payments?limit=100", key=key))["data"]
    assert len(after) == payments_before  # nothing booked
    verdicts = await _verdicts(gateway, family.partner)
    assert verdicts.get("entry_store_disabled") == 1 and verdicts.get("entry_unknown_store") == 1

    enabled = await _cli(gateway, "stores", "enable", store_id)
    assert enabled.exit_code == 0 and "active" in enabled.stdout, enabled.output
    paid = await _scan(gateway, protocol_family, code)
    assert paid.status == 200 and paid.body["charged"] is True, paid.body
