"""BeginPayment's decisions, against a scripted transaction (no database): what its one lookup
(keys and references, one snapshot) finds decides between a claim, an idempotent answer and a
duplicate reference."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.storage.idempotency import IdempotencyConflict
from gateway.storage.payments import BeginPayment, DuplicateReference
from gateway.storage.raw import Insert, Update
from tests.factories import make_attempt, make_payment

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


class ScriptedTransaction:
    """Answers each SELECT from a script; records writes."""

    def __init__(self, answers: list[list[dict[str, Any]]]) -> None:
        self.answers = answers
        self.lookups = 0
        self.writes: list[str] = []

    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        self.lookups += 1
        return [dict(row) for row in self.answers.pop(0)]

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> None:
        self.writes.append(sql)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.writes.append(sql)

    async def write(self, *writes: Insert | Update) -> None:
        for write in writes:
            if write.rows:
                verb = "INSERT INTO" if isinstance(write, Insert) else "UPDATE"
                self.writes.append(f"{verb} {write.table} ({len(write.rows)} rows)")

    dialect = "postgresql"

    def to_datetime(self, value: Any) -> datetime:
        moment: datetime = value
        return moment

    def matching(
        self, columns: Sequence[str], rows: Sequence[Sequence[str]]
    ) -> tuple[str, list[Any]]:
        return f"({', '.join(columns)}) IN (...)", [list(c) for c in zip(*rows, strict=True)]


def _command(key: str, reference: str, request_hash: str = "h1") -> BeginPayment:
    return BeginPayment(
        claim={"merchant_id": "mer_1", "key": key, "request_hash": request_hash},
        quote=None,
        payment=make_payment(id=f"pay_{key}", idempotency_key=key, merchant_reference=reference),
        attempt=make_attempt(id=f"att_{key}", partner_request_id=f"att_{key}"),
        now=NOW,
    )


def _record(key: str, request_hash: str = "h1") -> dict[str, Any]:
    return {
        "merchant_id": "mer_1",
        "name": key,
        "payment_id": None,
        "request_hash": request_hash,
        "state": "in_progress",
        "response_status": None,
        "response_body": None,
        "expires_at": NOW + timedelta(hours=48),
    }


def _payment(payment_id: str, reference: str) -> dict[str, Any]:
    return {"merchant_id": "mer_1", "name": reference, "payment_id": payment_id}


async def test_a_retry_that_finds_its_payment_and_key_is_in_use_not_a_duplicate() -> None:
    tx = ScriptedTransaction([[_record("K"), _payment("pay_other", "R1")]])
    [result] = await BeginPayment.run_batch(tx, [_command("K", "R1")])
    assert result == IdempotencyConflict(in_use=True)
    assert tx.writes == []
    assert tx.lookups == 1


async def test_another_key_with_the_reference_is_a_duplicate() -> None:
    tx = ScriptedTransaction([[_payment("pay_other", "R1")]])
    [result] = await BeginPayment.run_batch(tx, [_command("K2", "R1")])
    assert result == DuplicateReference(payment_id="pay_other")
    assert tx.writes == []


async def test_a_new_key_and_reference_claims_and_writes_in_one_lookup() -> None:
    tx = ScriptedTransaction([[]])
    [result] = await BeginPayment.run_batch(tx, [_command("K", "R1")])
    assert result is None
    assert tx.lookups == 1
    assert "INSERT INTO payments (1 rows)" in tx.writes
    assert "INSERT INTO idempotency_keys (1 rows)" in tx.writes


async def test_one_batch_claims_a_key_once() -> None:
    tx = ScriptedTransaction([[]])
    results = await BeginPayment.run_batch(
        tx, [_command("K", "R1"), _command("K", "R1"), _command("K", "R9", request_hash="h2")]
    )
    assert results == [
        None,
        IdempotencyConflict(in_use=True),
        IdempotencyConflict(in_use=False),
    ]
    assert len([w for w in tx.writes if w.startswith("INSERT INTO payments")]) == 1
