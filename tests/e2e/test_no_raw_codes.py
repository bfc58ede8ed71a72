"""A tourist's raw wallet code is never stored nor logged: only its mask and a keyed hash are kept.

DESIGN.md: "The raw wallet code lives only in memory for the duration of the pay call; the
database stores a masked form and a keyed hash (for duplicate detection)", and the gateway never
logs a raw payment code.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
from typing import Any

import pytest
import sqlalchemy as sa

from adapters import mask_code
from gateway.storage import idempotency as records
from gateway.storage import payments as repo
from gateway.storage.db import open_database
from gateway.storage.tables import metadata
from tests.e2e.conftest import Answer, Gateway, code

HEX64 = re.compile(r"[0-9a-f]{64}")


async def dump_database(url: str) -> list[tuple[str, str, str]]:
    """(table, column, text) for every non-null cell of every table in the database.

    Tables are reflected from the database itself, so one the models do not know is read too.
    """
    db = open_database(url)
    try:
        async with db.reader.connect() as conn:
            reflected = sa.MetaData()
            await conn.run_sync(reflected.reflect)
            assert {t.name for t in metadata.sorted_tables} <= set(reflected.tables)
            cells: list[tuple[str, str, str]] = []
            for table in reflected.sorted_tables:
                for row in (await conn.execute(sa.select(table))).mappings():
                    for column, value in row.items():
                        if value is None:
                            continue
                        if isinstance(value, bytes | bytearray | memoryview):
                            text = bytes(value).decode("utf-8", "replace")
                        else:
                            text = value if isinstance(value, str) else str(value)
                        cells.append((table.name, column, text))
            return cells
    finally:
        await db.dispose()


def _log_texts(records: list[logging.LogRecord]) -> list[tuple[str, str]]:
    texts = []
    for record in records:
        parts = [record.getMessage(), repr(record.args), record.exc_text or ""]
        if record.exc_info and record.exc_info[1] is not None:
            parts.append(repr(record.exc_info[1]))
        texts.append((record.name, " ".join(parts)))
    return texts


async def test_raw_codes_are_in_no_table_and_no_log(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="gateway")
    caplog.set_level(logging.DEBUG, logger="adapters")
    cases = {
        "succeeded": code("28", "0000"),
        "succeeded_24_digits": code("81", "0000", length=24),
        "declined_0051": code("28", "0051"),
        "unknown_then_resolved_0093": code("28", "0093"),
        "retried_after_5xx_0500": code("28", "0500"),
        "refused_0503": code("28", "0503"),
        "no_such_wallet": code("99", "0000"),
        "jp_succeeded": code("63", "0000"),
    }
    answers: dict[str, Answer] = {}
    for name, wallet_code in cases.items():
        if name.startswith("jp_"):
            answers[name] = await gateway.pay(wallet_code, 5000, "JPY", key="jp_pos")
        else:
            answers[name] = await gateway.pay(wallet_code, 125050)
    assert answers["refused_0503"].error == "partner_unavailable"
    assert answers["no_such_wallet"].error == "invalid_payment_code"
    finals: dict[str, dict[str, Any]] = {}
    for name, answer in answers.items():
        if answer.status == 201:
            finals[name] = await gateway.wait_final(
                answer.body["id"], key="jp_pos" if name.startswith("jp_") else "th_pos"
            )
    assert {name: p["status"] for name, p in finals.items()} == {
        "succeeded": "succeeded",
        "succeeded_24_digits": "succeeded",
        "declined_0051": "failed",
        "unknown_then_resolved_0093": "succeeded",
        "retried_after_5xx_0500": "succeeded",
        "jp_succeeded": "succeeded",
    }

    # No answer shows a raw code; the payment shows the mask.
    for name, answer in answers.items():
        shown = json.dumps(answer.body) + json.dumps(answer.headers)
        assert cases[name] not in shown, name
    for name, payment in finals.items():
        assert payment["payment_method"]["code_masked"] == mask_code(cases[name])
        assert cases[name] not in json.dumps(payment)

    # No cell of any table holds a raw code, not even as part of a longer text.
    cells = await dump_database(gateway.settings.database.url)
    # The dump does see the payments: each one's mask is there.
    dumped = {text for _, _, text in cells}
    assert {mask_code(cases[name]) for name in finals} <= dumped
    leaks = [
        (table, column, name)
        for table, column, text in cells
        for name, wallet_code in cases.items()
        if wallet_code in text
    ]
    assert leaks == []

    # What is kept: the mask, and an HMAC under the configured key (not a plain SHA-256).
    hash_key = gateway.env[gateway.settings.security.code_hash_key_env].encode()
    db = open_database(gateway.settings.database.url)
    try:
        for name, payment in finals.items():
            stored = await repo.get_payment(db, payment["id"])
            assert stored is not None
            wallet_code = cases[name]
            assert stored.code_mask == mask_code(wallet_code)
            assert sum(ch.isdigit() for ch in stored.code_mask) == 10
            assert HEX64.fullmatch(stored.code_hash), stored.code_hash
            assert stored.code_hash != hashlib.sha256(wallet_code.encode()).hexdigest()
            keyed = hmac.new(hash_key, wallet_code.encode(), hashlib.sha256).hexdigest()
            assert stored.code_hash == keyed
    finally:
        await db.dispose()

    # No log record (message, arguments or exception) carries a raw code.
    texts = _log_texts(caplog.records)
    loggers = {name for name, _ in texts}
    assert any(n.startswith("gateway.") for n in loggers), loggers
    assert any(n.startswith("adapters.") for n in loggers), loggers
    assert any(mask_code(cases["declined_0051"]) in text for _, text in texts)
    logged = [
        (logger, name)
        for logger, text in texts
        for name, wallet_code in cases.items()
        if wallet_code in text
    ]
    assert logged == []


async def test_idempotency_record_does_not_reveal_the_code(gateway: Gateway) -> None:
    wallet_code = code("28", "0000")
    key = secrets.token_hex(12)
    body = {
        "merchant_reference": f"R-{secrets.token_hex(6)}",
        "amount": {"currency": "THB", "value": 125050},
        "payment_method": {"type": "wallet_code", "code": wallet_code},
    }
    answer = await gateway.request("POST", "/v1/payments", json=body, idempotency_key=key)
    assert answer.status == 201, answer.body
    db = open_database(gateway.settings.database.url)
    try:
        record = await records.find_idempotency(db, gateway.merchants["th"], key)
        payment = await repo.get_payment(db, answer.body["id"])
    finally:
        await db.dispose()
    assert record is not None and payment is not None
    # Everything but the hidden digits is in the database (payments row) or public.
    rebuilt = {
        "merchant_reference": payment.merchant_reference,
        "amount": {"currency": payment.amount.currency.code, "value": payment.amount.value},
        "payment_method": {"type": "wallet_code", "code": wallet_code},
    }
    canonical = json.dumps(rebuilt, sort_keys=True, separators=(",", ":"))
    guess = hashlib.sha256(f"POST /v1/payments\n{canonical}".encode()).hexdigest()
    # A guess of the code must not be checkable against the stored hash without a secret key.
    assert record["request_hash"] != guess
