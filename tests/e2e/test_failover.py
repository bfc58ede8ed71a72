"""A partner goes down: payments fail over to the other partner of the market, never charging
twice; its breaker opens, and closes again once the partner is back."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from adapters import SystemClock
from gateway.sandboxes import sandbox_app
from tests.e2e.conftest import Gateway, code
from tests.support.waiting import eventually


def _runner_of(gateway: Gateway, partner: str) -> web.AppRunner:
    app = gateway.sandboxes.apps[partner]
    [runner] = [r for r in gateway.sandboxes.runners if r.app is app]
    return runner


async def _breaker(gateway: Gateway, partner: str) -> str:
    ready = await gateway.request("GET", "/readyz", key=None)
    return str(ready.body["checks"]["partners"][partner]["breaker"])


async def test_payments_fail_over_while_a_partner_is_down(gateway: Gateway) -> None:
    url = gateway.sandboxes.urls["th-siampay"]
    await _runner_of(gateway, "th-siampay").cleanup()  # connections now refused

    answers = [await gateway.pay(code("28", "0000"), 10_000 + i) for i in range(6)]
    assert [(a.status, a.body["status"]) for a in answers] == [(201, "succeeded")] * 6
    assert {a.body["partner"] for a in answers} == {"th-krungpay"}
    # Each charged once, at the partner that answered.
    assert len([e for e in gateway.ledger("th-krungpay").entries if e.kind == "charge"]) == 6
    # After three refused connections the breaker is open: later payments skip siampay at once.
    assert await _breaker(gateway, "th-siampay") == "open"
    first_attempts = await gateway.attempts(answers[0].body["id"])
    assert [a["partner"] for a in first_attempts] == ["th-siampay", "th-krungpay"]
    assert first_attempts[0]["status"] == "not_accepted"
    last_attempts = await gateway.attempts(answers[-1].body["id"])
    assert [a["partner"] for a in last_attempts] == ["th-krungpay"]

    # SiamPay comes back on the same port: after the cool-down a trial payment goes there again.
    settings = gateway.settings
    partner = settings.partner("th-siampay")
    revived = web.AppRunner(sandbox_app(settings, partner, gateway.env, SystemClock()))
    await revived.setup()
    await web.TCPSite(revived, "127.0.0.1", urlsplit(url).port).start()
    gateway.sandboxes.runners.append(revived)
    gateway.sandboxes.apps["th-siampay"] = revived.app
    await asyncio.sleep(settings.durations.breaker_cooldown.total_seconds() + 0.1)
    back = await gateway.pay(code("28", "0000"), 20_000)
    assert back.status == 201 and back.body["partner"] == "th-siampay", back.body
    assert await _breaker(gateway, "th-siampay") == "closed"


async def test_every_partner_down_is_503_and_keeps_nothing(gateway: Gateway) -> None:
    for partner in ("th-siampay", "th-krungpay"):
        await _runner_of(gateway, partner).cleanup()
    answers = [await gateway.pay(code("28", "0000"), reference=f"DOWN-{i}") for i in range(4)]
    assert {(a.status, a.error) for a in answers} == {(503, "partner_unavailable")}
    assert all("Retry-After" in a.headers for a in answers)
    listed = await gateway.request("GET", "/v1/payments?merchant_reference=DOWN-0")
    assert listed.body["data"] == []
    # Both breakers open: the last answers came without calling anyone, and say when to retry.
    assert await _breaker(gateway, "th-siampay") == "open"
    assert await _breaker(gateway, "th-krungpay") == "open"
    assert int(answers[-1].headers["Retry-After"]) >= 1


async def test_a_5xx_partner_is_never_failed_over(gateway: Gateway) -> None:
    """0500 answers HTTP 500 first: maybe charged, so the payment stays with that partner."""
    answer = await gateway.pay(code("28", "0500"))
    assert answer.status == 201 and answer.body["partner"] == "th-siampay"
    attempts = await gateway.attempts(answer.body["id"])
    assert [a["partner"] for a in attempts] == ["th-siampay"]
    assert not [e for e in gateway.ledger("th-krungpay").entries if e.kind == "charge"]


async def test_partners_status_shows_the_breakers(gateway: Gateway) -> None:
    from click.testing import CliRunner

    from gateway.cli import main

    await _runner_of(gateway, "th-siampay").cleanup()
    for i in range(3):
        paid = await gateway.pay(code("28", "0000"), 10_000 + i)
        assert paid.status == 201, paid.body
    result = await asyncio.to_thread(
        CliRunner().invoke,
        main,
        ["--profile", "test", "partners", "status", "--url", gateway.url],
        env={"DATABASE_URL": gateway.settings.database.url},
    )
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line.split() for line in result.output.splitlines()}
    assert lines["th-siampay"][5] == "open", result.output
    assert lines["th-krungpay"][5] == "closed"


async def _start_sandbox_process(gateway: Gateway, partner: str, port: int) -> Any:
    """`gateway sandbox --partner` as a process of its own, with the harness's keys."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.cli",
        "--profile",
        "test",
        "sandbox",
        "--partner",
        partner,
        "--port",
        str(port),
        env={**gateway.env, "DATABASE_URL": gateway.settings.database.url},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )

    async def listening() -> bool:
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return False
        writer.close()
        return True

    try:
        await eventually(
            listening, timeout=20, interval=0.05, failure="the sandbox process did not start"
        )
    except AssertionError:
        process.kill()
        raise
    return process


async def _charges(session: aiohttp.ClientSession, url: str) -> int:
    async with session.get(f"{url}/_sandbox/ledger") as answer:
        ledger = await answer.json()
    return len([e for e in ledger["entries"] if e["kind"] == "charge"])


async def test_a_partner_process_killed_and_restarted(gateway: Gateway) -> None:
    """The sandbox runs as its own process; SIGKILL it: connections are refused, payments go
    to the other Thai partner, none is charged twice; start it again: the breaker closes."""
    url = gateway.sandboxes.urls["th-siampay"]
    port = urlsplit(url).port
    assert port is not None
    await _runner_of(gateway, "th-siampay").cleanup()
    process = await _start_sandbox_process(gateway, "th-siampay", port)
    try:
        first = await gateway.pay(code("28", "0000"), 10_000)
        assert first.status == 201 and first.body["partner"] == "th-siampay", first.body
        assert await _charges(gateway.session, url) == 1

        os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
        answers = [await gateway.pay(code("28", "0000"), 11_000 + i) for i in range(5)]
        assert [(a.status, a.body["partner"]) for a in answers] == [(201, "th-krungpay")] * 5
        krung = [e for e in gateway.ledger("th-krungpay").entries if e.kind == "charge"]
        assert len(krung) == 5
        assert len({e.payment_request_id for e in krung}) == 5  # each charged once
        assert await _breaker(gateway, "th-siampay") == "open"

        process = await _start_sandbox_process(gateway, "th-siampay", port)
        await asyncio.sleep(gateway.settings.durations.breaker_cooldown.total_seconds() + 0.1)
        back = await gateway.pay(code("28", "0000"), 12_000)
        assert back.status == 201 and back.body["partner"] == "th-siampay", back.body
        assert await _breaker(gateway, "th-siampay") == "closed"
        assert await _charges(gateway.session, url) == 1  # the new process's own ledger
    finally:
        if process.returncode is None:
            os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
