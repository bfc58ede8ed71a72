"""`python -m bench.money --quick` in-process, on both databases (issue #17).

A day of mixed payments (merchant and payer exponents 0, 2 and 3), cancelled or refunded in random
partial steps by the gateway's booking code, closed by the settlement code, must pass every check
of the money proof: payer amounts never over-returned and exact when refunded in full; every fully
refunded payment netting to exactly minus the fee kept in its merchant's and its partner's batch;
every closed batch equal to the ledger balance of its account; each currency's FX position equal to
what the records imply; `ledger verify` clean. And the proof has teeth: refunds giving back a
minor unit of fee too many now and then fail it.
"""

from __future__ import annotations

import types
from collections.abc import Iterator

import pytest

from bench.money import QUICK_PAYMENTS, prove
from gateway.ledger import postings
from gateway.payments import booking
from tests.conftest import DATABASES, own_database


@pytest.fixture(params=DATABASES)
def database(request: pytest.FixtureRequest) -> Iterator[str]:
    yield from own_database(request)


async def test_the_quick_money_proof_passes(database: str) -> None:
    proof = await prove(database, payments=QUICK_PAYMENTS, seed=17, chunk=1_000)

    assert proof.ok, proof.report()
    tally = proof.tally
    assert tally.payments == QUICK_PAYMENTS
    assert tally.cancelled and tally.full and tally.partial and tally.residues, tally
    assert {c.name for c in proof.checks} == {
        "payer amounts",
        "net zero",
        "batch = ledger",
        "FX positions",
        "ledger verify",
    }


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_the_proof_catches_a_minor_unit_too_many(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checks have teeth: refunds that give back one minor unit of fee too many now and
    then (the drift of fee returns rounded one line at a time, before #17) fail the proof."""
    exact = postings.merchant_fee_returned

    def drifting(refunded_after: int, mdr_bps: int, returned_before: int) -> int:
        return exact(refunded_after, mdr_bps, returned_before) + (refunded_after % 5 == 0)

    # Only the booking drifts: `ledger verify` keeps the exact rule.
    drifted = types.ModuleType("drifted_postings")
    drifted.__dict__.update(vars(postings))
    drifted.merchant_fee_returned = drifting  # type: ignore[attr-defined]
    monkeypatch.setattr(booking, "ledger", drifted)
    proof = await prove(database, payments=1_000, seed=17, chunk=1_000)

    failed = {c.name for c in proof.checks if not c.ok}
    assert {"net zero", "ledger verify"} <= failed, proof.report()
