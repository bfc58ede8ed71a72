"""Gateways as real operating-system processes, against sandboxes running in the test process.

A `Stack` is: a private copy of `configs/` (test profile) whose partner `base_url`s point at
sandboxes started here on ephemeral ports, the generated sandbox keys in an environment, a
seeded database, and a log of every call the sandboxes received (operation, paymentRequestId,
arrival time). `Stack.gateway(name)` gives a `GatewayProcess`: `gateway --profile test serve` in
its own process group, so a test can SIGKILL it mid-call (a crash: no cleanup, no answer) or
stop it, and run several against one database.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from adapters import SystemClock
from adapters.alipayplus.sandbox import LEDGER, SandboxLedger
from gateway.core.config import PROJECT_ROOT, Settings, load_settings
from gateway.sandboxes import RunningSandboxes, sandbox_app, sandbox_environment
from gateway.storage import payments as repo
from gateway.storage import rows
from gateway.storage.db import open_database
from tests.support.seeding import SHOPS, seed
from tests.support.waiting import FINAL, eventually, wait_final

__all__ = [
    "Call",
    "CallLog",
    "GatewayProcess",
    "Reply",
    "Stack",
    "call",
    "running_stack",
]

# --- what the sandboxes received ----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Call:
    partner: str
    operation: str  # "pay" | "inquiryPayment" | "cancel"
    request_id: str | None  # paymentRequestId of the body
    at: datetime  # arrival, UTC (the gateways share this machine's clock)


@dataclasses.dataclass
class CallLog:
    calls: list[Call] = dataclasses.field(default_factory=list)

    def of(
        self, request_id: str, operation: str | None = None, *, after: datetime | None = None
    ) -> list[Call]:
        return [
            c
            for c in self.calls
            if c.request_id == request_id
            and (operation is None or c.operation == operation)
            and (after is None or c.at > after)
        ]

    def pay_request_ids(self, partner: str = "th-siampay") -> set[str | None]:
        return {c.request_id for c in self.calls if c.partner == partner and c.operation == "pay"}


def _recording(partner: str, log: CallLog) -> Any:
    @web.middleware
    async def record(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.method == "POST":
            request_id: str | None = None
            with contextlib.suppress(ValueError, AttributeError):
                # The body is cached: the handler reads it again.
                request_id = json.loads(await request.read()).get("paymentRequestId")
            operation = request.path.rsplit("/", 1)[-1]
            log.calls.append(Call(partner, operation, request_id, datetime.now(UTC)))
        return await handler(request)

    return record


async def _start_recorded_sandboxes(
    settings: Settings, env: dict[str, str], log: CallLog
) -> RunningSandboxes:
    """Like `gateway.sandboxes.start_sandboxes` on ephemeral ports, plus a call log."""
    running = RunningSandboxes([], {}, {})
    try:
        for partner in settings.partners:
            if not partner.sandbox.enabled:
                continue
            app = sandbox_app(settings, partner, env, SystemClock())
            app.middlewares.append(_recording(partner.id, log))
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            running.runners.append(runner)
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            running.apps[partner.id] = app
            running.urls[partner.id] = f"http://127.0.0.1:{runner.addresses[0][1]}"
    except BaseException:
        await running.stop()
        raise
    return running


# --- configuration ------------------------------------------------------------------------------


def _copy_configs(dest: Path, *, profile_overrides: dict[str, str]) -> Path:
    """Copy `configs/`; `profile_overrides` rewrites keys of profiles/test.toml that it sets
    exactly once (e.g. `{"hold": "3s"}` for [sandbox] hold, `{"pay": "1s"}` for the pay
    timeout)."""
    shutil.copytree(PROJECT_ROOT / "configs", dest)
    profile = dest / "profiles" / "test.toml"
    text = profile.read_text()
    for key, value in profile_overrides.items():
        text, n = re.subn(rf'^{re.escape(key)} = "[^"]*"', f'{key} = "{value}"', text, flags=re.M)
        assert n == 1, f"configs/profiles/test.toml sets {key!r} {n} times, not once"
    profile.write_text(text)
    return dest


def _point_partners_at(config_dir: Path, urls: dict[str, str]) -> None:
    for partner_id, url in urls.items():
        path = config_dir / "partners" / f"{partner_id}.toml"
        text, n = re.subn(
            r'^base_url = "[^"]*"', f'base_url = "{url}"', path.read_text(), flags=re.M
        )
        assert n == 1, f"{path} has no base_url line"
        path.write_text(text)


# --- gateway processes --------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _gateway_command() -> list[str]:
    script = Path(sys.executable).with_name("gateway")
    return [str(script)] if script.exists() else [sys.executable, "-m", "gateway.cli"]


class GatewayProcess:
    """`gateway --profile test serve` in its own process group (SIGKILL takes it all)."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.env = env
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    async def start(self, timeout: float = 20.0) -> None:
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [*_gateway_command(), "--profile", "test", "serve", "--port", str(port)],
                env=self.env,
                cwd=self.log_path.parent,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group
            )
        proc = self.proc

        async def healthy(session: aiohttp.ClientSession) -> bool:
            if proc.poll() is not None:
                raise AssertionError(
                    f"gateway {self.name} exited with {proc.returncode}:\n{self.log()}"
                )
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(self.url + "/healthz") as answer:
                    return answer.status == 200
            return False

        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1)) as session:
            await eventually(
                lambda: healthy(session),
                timeout=timeout,
                interval=0.05,
                failure=lambda: f"gateway {self.name} not healthy:\n{self.log()}",
            )

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the process group: a crash, nothing runs after it. Safe to repeat."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    async def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM (graceful), then SIGKILL if it lingers."""
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            await asyncio.to_thread(self.proc.wait, timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-6000:]
        except FileNotFoundError:
            return "(no log)"


# --- talking to a gateway -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Reply:
    status: int
    text: str
    headers: dict[str, str]
    gateway: str = ""

    @property
    def body(self) -> Any:
        return json.loads(self.text) if self.text else None

    @property
    def error(self) -> str | None:
        body = self.body
        if isinstance(body, dict) and "error" in body:
            return str(body["error"]["code"])
        return None

    @property
    def replayed(self) -> bool:
        return self.headers.get("Idempotent-Replayed") == "true"


async def call(
    session: aiohttp.ClientSession,
    gateway: GatewayProcess,
    method: str,
    path: str,
    *,
    key: str,
    json_body: Any = None,
    idempotency_key: str | None = None,
) -> Reply:
    headers = {"Authorization": f"Bearer {key}"}
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    async with session.request(
        method, gateway.url + path, json=json_body, headers=headers
    ) as answer:
        return Reply(answer.status, await answer.text(), dict(answer.headers), gateway.name)


# --- the whole stack ----------------------------------------------------------------------------


@dataclasses.dataclass
class Stack:
    tmp: Path
    config_dir: Path
    database_url: str
    settings: Settings
    env: dict[str, str]
    sandboxes: RunningSandboxes
    calls: CallLog
    keys: dict[str, str]
    merchants: dict[str, str]
    processes: list[GatewayProcess] = dataclasses.field(default_factory=list)

    def ledger(self, partner: str = "th-siampay") -> SandboxLedger:
        return self.sandboxes.apps[partner][LEDGER]

    def gateway(self, name: str) -> GatewayProcess:
        process = GatewayProcess(name, self.env, self.tmp)
        self.processes.append(process)
        return process

    async def payments_by_reference(self, reference: str) -> list[dict[str, Any]]:
        db = open_database(self.database_url)
        try:
            found, _more = await repo.list_payments(
                db,
                merchant_id=self.merchants["th"],
                merchant_reference=reference,
                limit=100,
                starting_after=None,
            )
            return [rows.payment_row(p) for p in found]
        finally:
            await db.dispose()

    async def payment_and_attempts(
        self, payment_id: str
    ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        db = open_database(self.database_url)
        try:
            payment = await repo.get_payment(db, payment_id)
            row = None if payment is None else rows.payment_row(payment)
            attempts = await repo.get_attempts(db, payment_id)
            return row, [rows.attempt_row(a) for a in attempts]
        finally:
            await db.dispose()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} ---\n{p.log()}" for p in self.processes)

    async def read(
        self, session: aiohttp.ClientSession, gateway: GatewayProcess, path: str
    ) -> dict[str, Any]:
        """GET `path` from `gateway` with the Thai POS key; it must answer 200. Its body."""
        reply = await call(session, gateway, "GET", path, key=self.keys["th_pos"])
        assert reply.status == 200, reply
        body: dict[str, Any] = reply.body
        return body

    async def wait_final(
        self,
        session: aiohttp.ClientSession,
        gateway: GatewayProcess,
        path: str,
        *,
        timeout: float,
        final: Collection[str] = FINAL,
    ) -> dict[str, Any]:
        """GET `path` (a payment or a refund) until its status is final; the processes' logs
        are the failure's context (`tests/support/waiting.py`)."""
        return await wait_final(
            lambda: self.read(session, gateway, path),
            final=final,
            timeout=timeout,
            what=path,
            context=self.logs,
        )


@contextlib.asynccontextmanager
async def running_stack(
    tmp: Path, database_url: str, *, profile_overrides: dict[str, str] | None = None
) -> AsyncIterator[Stack]:
    """Sandboxes here, a config copy pointing at them, a seeded database; gateways on demand.

    The sandboxes and the gateway processes read the same (overridden) test profile.

    Every gateway process started from the stack is SIGKILLed on exit, whatever happened.
    """
    config_dir = _copy_configs(tmp / "configs", profile_overrides=profile_overrides or {})
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "GATEWAY_CONFIG_DIR": str(config_dir),
        "GATEWAY_PROFILE": "test",
    }
    settings = load_settings(config_dir, "test", env)
    env.update(sandbox_environment(settings, env))
    calls = CallLog()
    sandboxes = await _start_recorded_sandboxes(settings, env, calls)
    stack: Stack | None = None
    try:
        _point_partners_at(config_dir, sandboxes.urls)
        settings = load_settings(config_dir, "test", env)  # what the gateway processes load
        assert {p.id: p.base_url for p in settings.partners} == sandboxes.urls
        seeded = await seed(database_url, SHOPS)
        stack = Stack(
            tmp,
            config_dir,
            database_url,
            settings,
            env,
            sandboxes,
            calls,
            seeded.keys,
            seeded.merchants,
        )
        yield stack
    finally:
        if stack is not None:
            for process in stack.processes:
                process.kill()
        await sandboxes.stop()
