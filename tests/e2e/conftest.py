"""The gateway and its sandbox partners, running for real on loopback, over a real database."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from adapters.alipayplus.sandbox import SandboxLedger
from adapters.sandboxes import SANDBOXES
from gateway.bootstrap import create_app
from gateway.core.config import Settings, load_settings
from gateway.sandboxes import RunningSandboxes, sandbox_environment, start_sandboxes
from gateway.storage import payments as repo
from gateway.storage import rows
from gateway.storage.db import open_database
from tests.support.seeding import SHOPS, seed
from tests.support.waiting import wait_final


def code(wallet_prefix: str, last4: str, length: int = 18) -> str:
    """A wallet code with a random middle: `code("28", "0051")`."""
    middle = "".join(secrets.choice("0123456789") for _ in range(length - len(wallet_prefix) - 4))
    return wallet_prefix + middle + last4


def test_settings(database_url: str) -> Settings:
    return load_settings(profile="test", env={**os.environ, "DATABASE_URL": database_url})


def with_partner_urls(settings: Settings, urls: dict[str, str]) -> Settings:
    partners = tuple(
        p.model_copy(update={"base_url": urls[p.id]}) if p.id in urls else p
        for p in settings.partners
    )
    return settings.model_copy(update={"partners": partners})


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str]

    @property
    def error(self) -> str | None:
        if isinstance(self.body, dict) and "error" in self.body:
            return str(self.body["error"]["code"])
        return None


@dataclass
class Gateway:
    """A running gateway, its merchants and their keys (by the labels and names of the shops
    it was seeded with: `tests/support/seeding.py`)."""

    url: str
    settings: Settings
    env: dict[str, str]
    session: aiohttp.ClientSession
    sandboxes: RunningSandboxes
    keys: dict[str, str] = field(default_factory=dict)
    merchants: dict[str, str] = field(default_factory=dict)

    async def request(
        self,
        method: str,
        path: str,
        *,
        key: str | None = "th_pos",
        json: Any = None,
        data: bytes | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        sent = dict(headers or {})
        if key is not None:
            sent["Authorization"] = f"Bearer {self.keys.get(key, key)}"
        if idempotency_key is not None:
            sent["Idempotency-Key"] = idempotency_key
        async with self.session.request(
            method, self.url + path, json=json, data=data, headers=sent
        ) as response:
            text = await response.text()
            body = await response.json(content_type=None) if text else None
            return Answer(response.status, body, dict(response.headers))

    async def pay(
        self,
        wallet_code: str,
        value: int = 125050,
        currency: str = "THB",
        *,
        key: str = "th_pos",
        idempotency_key: str | None = None,
        reference: str | None = None,
        **extra: Any,
    ) -> Answer:
        body = {
            "merchant_reference": reference or f"R-{secrets.token_hex(6)}",
            "amount": {"currency": currency, "value": value},
            "payment_method": {"type": "wallet_code", "code": wallet_code},
            **extra,
        }
        return await self.request(
            "POST",
            "/v1/payments",
            key=key,
            json=body,
            idempotency_key=idempotency_key or secrets.token_hex(12),
        )

    async def read(self, path: str, *, key: str = "th_pos") -> dict[str, Any]:
        """GET `path`, which must answer 200; its body."""
        answer = await self.request("GET", path, key=key)
        assert answer.status == 200, answer.body
        body: dict[str, Any] = answer.body
        return body

    async def wait_final(
        self, payment_id: str, timeout: float = 10.0, *, key: str = "th_pos"
    ) -> dict[str, Any]:
        """The payment once final, read with `key` (`tests/support/waiting.py`)."""
        return await wait_final(
            lambda: self.read(f"/v1/payments/{payment_id}", key=key), timeout=timeout
        )

    async def attempts(self, payment_id: str) -> list[dict[str, Any]]:
        db = open_database(self.settings.database.url)
        try:
            return [rows.attempt_row(a) for a in await repo.get_attempts(db, payment_id)]
        finally:
            await db.dispose()

    def ledger(self, partner: str = "th-siampay") -> SandboxLedger:
        """The partner's sandbox ledger (every protocol's reads the same way)."""
        ledger: SandboxLedger = self.sandboxes.apps[partner][
            SANDBOXES[self.settings.partner(partner).protocol].ledger
        ]
        return ledger


async def start_gateway_app(settings: Settings, env: dict[str, str]) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(create_app(settings, env=env), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


@pytest.fixture
async def sandboxes_and_env(
    database_url: str,
) -> AsyncIterator[tuple[Settings, dict[str, str], RunningSandboxes]]:
    settings = test_settings(database_url)
    env = dict(os.environ)
    env.update(sandbox_environment(settings, env))
    running = await start_sandboxes(
        settings, env, ports={p.id: 0 for p in settings.partners if p.sandbox.enabled}
    )
    try:
        yield with_partner_urls(settings, running.urls), env, running
    finally:
        await running.stop()


@pytest.fixture
async def gateway(
    sandboxes_and_env: tuple[Settings, dict[str, str], RunningSandboxes],
) -> AsyncIterator[Gateway]:
    settings, env, running = sandboxes_and_env
    seeded = await seed(settings.database.url, SHOPS)
    runner, url = await start_gateway_app(settings, env)
    async with aiohttp.ClientSession() as session:
        try:
            yield Gateway(url, settings, env, session, running, seeded.keys, seeded.merchants)
        finally:
            await runner.cleanup()
