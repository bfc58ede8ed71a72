"""API keys under load: an expired cache entry costs one database lookup, not one per request
waiting on it (a stampede of 64 POS requests used to make 64 pairs of reads)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gateway.core.errors import AuthenticationFailed
from gateway.merchants.auth import KeyStore
from gateway.storage import payments as repo
from gateway.storage.db import open_database
from tests.support.seeding import SIAM_SOUVENIRS, seed


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every key lookup that reaches the database (by key hash), still answered by it."""
    seen: list[str] = []
    real = repo.find_api_key

    async def counted(db: Any, key_hash: str) -> dict[str, Any] | None:
        seen.append(key_hash)
        await asyncio.sleep(0)  # let the other requests arrive while this one is out
        return await real(db, key_hash)

    monkeypatch.setattr(repo, "find_api_key", counted)
    return seen


async def test_concurrent_requests_share_one_lookup_and_expiry_still_reads_again(
    database_url: str, lookups: list[str]
) -> None:
    seeded = await seed(database_url, {"th": SIAM_SOUVENIRS}, operator_key=None)
    db = open_database(database_url)
    try:
        keys = KeyStore(db, ttl_seconds=0.0)  # every entry is expired as soon as it is made
        header = f"Bearer {seeded.keys['th_pos']}"
        principals = await asyncio.gather(*(keys.authenticate(header) for _ in range(20)))
        assert len(lookups) == 1
        assert {p.merchant_id for p in principals} == {seeded.merchants["th"]}
        await keys.authenticate(header)
        assert len(lookups) == 2  # nothing in flight and the entry expired: read again
    finally:
        await db.dispose()


async def test_a_refused_key_is_every_waiters_answer(database_url: str, lookups: list[str]) -> None:
    db = open_database(database_url)
    try:
        keys = KeyStore(db)
        answers = await asyncio.gather(
            *(keys.authenticate("Bearer sk_test_not_a_key") for _ in range(5)),
            return_exceptions=True,
        )
        assert len(lookups) == 1
        assert all(isinstance(a, AuthenticationFailed) for a in answers)
    finally:
        await db.dispose()
