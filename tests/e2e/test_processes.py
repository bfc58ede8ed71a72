"""`gateway serve --processes N`: N processes on one port and one PostgreSQL database; SQLite
refuses, since it serves one process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
from pathlib import Path

import aiohttp
import pytest
from click.testing import CliRunner

from gateway.cli import main
from tests.e2e._subprocess_gateway import _free_port, _gateway_command, running_stack
from tests.e2e.conftest import code
from tests.support.waiting import eventually


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes()
            if int(fields[1]) == pid and b"spawn_main" in cmdline:
                found.append(int(entry.name))
    return found


@pytest.mark.postgres
async def test_processes_share_the_port_and_the_database(
    tmp_path: Path, postgresql_url: str
) -> None:
    async with running_stack(tmp_path, postgresql_url) as stack:
        port = _free_port()
        log = (tmp_path / "serve.log").open("wb")
        proc = subprocess.Popen(
            [*_gateway_command(), "--profile", "test", "serve", *("--port", str(port)), "-j2"],
            env=stack.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            async with aiohttp.ClientSession() as session:

                async def serving() -> bool:
                    with contextlib.suppress(aiohttp.ClientError):
                        async with session.get(url + "/healthz") as answer:
                            return answer.status == 200 and len(_children(proc.pid)) == 2
                    return False

                await eventually(
                    serving,
                    timeout=20.0,
                    interval=0.05,
                    failure=lambda: (tmp_path / "serve.log").read_text(),
                )
                assert len(_children(proc.pid)) == 2, (tmp_path / "serve.log").read_text()

                async def pay(i: int) -> tuple[int, str]:
                    body = {
                        "merchant_reference": f"PROC-{i}",
                        "amount": {"currency": "THB", "value": 10_000 + i},
                        "payment_method": {"type": "wallet_code", "code": code("28", "0000")},
                    }
                    headers = {
                        "Authorization": f"Bearer {stack.keys['th_pos']}",
                        "Idempotency-Key": f"proc-{i}",
                    }
                    async with session.post(url + "/v1/payments", json=body, headers=headers) as r:
                        return r.status, (await r.json())["status"]

                answers = await asyncio.gather(*(pay(i) for i in range(20)))
            assert answers == [(201, "succeeded")] * 20
            assert len(stack.ledger().payments) == 20
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            log.close()
    # Each child logs as a single process does: a spawned interpreter sets up its own logging.
    logged = (tmp_path / "serve.log").read_text()
    succeeded = re.findall(r"INFO gateway\.payments\.service: payment pay_\w+ succeeded", logged)
    assert len(succeeded) == 20, logged[-4000:]


def test_sqlite_refuses_more_than_one_process(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["--profile", "test", "serve", "--processes", "2"],
        env={"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'g.db'}"},
    )
    assert result.exit_code == 2
    assert "SQLite serves one gateway process" in result.output
