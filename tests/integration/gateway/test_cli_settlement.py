"""`gateway settle` and `gateway settlements export` against a real SQLite file."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.cli import main
from gateway.merchants import admin
from gateway.storage.db import open_database
from tests.integration.gateway.test_settlement_closing import Books, D


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[CliRunner, str]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("GATEWAY_PROFILE", "test")
    runner = CliRunner()
    assert runner.invoke(main, ["migrate"]).exit_code == 0
    return runner, url


def _traffic(url: str) -> tuple[str, str]:
    async def go() -> tuple[str, str]:
        db = open_database(url)
        try:
            merchant_id = await admin.create_merchant(
                db, name="CLI", country="TH", currency="THB", timezone="Asia/Bangkok"
            )
            books = Books(db, merchant_id)
            paid = await books.pay(10_000, reference="=1+1")
            await books.pay(2_550)
            await books.refund(paid, 1_000)
            return merchant_id, books.partner
        finally:
            await db.dispose()

    return asyncio.run(go())


def test_settle_waits_for_the_cut_off_then_closes_once(cli: tuple[CliRunner, str]) -> None:
    runner, url = cli
    merchant_id, partner = _traffic(url)
    day = D.isoformat()

    early = runner.invoke(main, ["settle", "--date", day, "--merchant", merchant_id])
    # D is in 2031: its cut-off + grace is still ahead of the real clock.
    assert early.exit_code == 1, early.output
    assert "not yet due" in early.output and "2031-05-14T17:00:00.100000+00:00" in early.output

    forced = runner.invoke(main, ["settle", "--date", day, "--merchant", merchant_id, "--force"])
    assert forced.exit_code == 0, forced.output
    assert forced.output.startswith("closed: merchant ") and "3 lines" in forced.output

    again = runner.invoke(main, ["settle", "--date", day, "--merchant", merchant_id, "--force"])
    assert again.exit_code == 0 and again.output.startswith("already closed: "), again.output
    assert again.output.split("sha256 ")[1] == forced.output.split("sha256 ")[1]

    # A partner the configuration does not know closes only when forced.
    skipped = runner.invoke(main, ["settle", "--date", day, "--partner", partner])
    assert skipped.exit_code == 1 and "skipped" in skipped.output, skipped.output
    closed = runner.invoke(main, ["settle", "--date", day, "--partner", partner, "--force"])
    assert closed.exit_code == 0 and closed.output.startswith("closed: partner "), closed.output

    nothing = runner.invoke(main, ["settle", "--date", "2031-05-01"])
    assert nothing.exit_code == 0 and "nothing to settle" in nothing.output


def test_settle_refuses_bad_options(cli: tuple[CliRunner, str]) -> None:
    runner, _url = cli
    for args in (
        ["settle", "--date", "2031-5-14"],
        ["settle", "--date", "2031-02-30"],
        ["settle"],
        ["settle", "--date", "2031-05-14", "--merchant", "mer_x", "--partner", "p"],
        ["settlements", "export", "--date", "2031-05-14"],
        ["settlements", "export", "--date", "yesterday", "--out", "x"],
    ):
        result = runner.invoke(main, args)
        assert result.exit_code == 2, (args, result.output)


def test_export_writes_checked_files_and_a_manifest(
    cli: tuple[CliRunner, str], tmp_path: Path
) -> None:
    runner, url = cli
    merchant_id, partner = _traffic(url)
    day = D.isoformat()
    assert runner.invoke(main, ["settle", "--date", day, "--force"]).exit_code == 0

    outputs = []
    for name in ("a", "b"):
        out = tmp_path / name
        result = runner.invoke(main, ["settlements", "export", "--date", day, "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert "2 file(s)" in result.output
        outputs.append(out)
    first, second = outputs
    files = sorted(p.name for p in first.iterdir())
    assert files == sorted(
        [
            f"merchant_{merchant_id}_THB_{day}.csv",
            f"partner_{partner}_CNY_{day}.csv",
            "SHA256SUMS",
            "manifest.json",
        ]
    )
    for name in files:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    manifest = json.loads((first / "manifest.json").read_text())
    assert manifest["business_date"] == day
    for entry in manifest["files"]:
        data = (first / entry["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert len(data) == entry["bytes"]
        assert data.count(b"\n") == entry["rows"] + 2  # header and total rows
    merchant_file = (first / f"merchant_{merchant_id}_THB_{day}.csv").read_text()
    assert ",'=1+1," in merchant_file  # formula guard
    sums = (first / "SHA256SUMS").read_text().splitlines()
    assert sorted(line.split("  ")[1] for line in sums) == [f for f in files if f.endswith(".csv")]

    only = tmp_path / "only"
    result = runner.invoke(
        main, ["settlements", "export", "--date", day, "--out", str(only), "--partner", partner]
    )
    assert result.exit_code == 0 and "1 file(s)" in result.output
    empty = tmp_path / "empty"
    result = runner.invoke(
        main, ["settlements", "export", "--date", "2031-01-01", "--out", str(empty)]
    )
    assert result.exit_code == 0 and "0 file(s)" in result.output
    assert json.loads((empty / "manifest.json").read_text())["files"] == []


@pytest.mark.postgres
def test_two_processes_settling_at_once_close_once(postgresql_url: str) -> None:
    import subprocess
    import sys

    import sqlalchemy as sa

    from gateway.storage.tables import metadata

    async def traffic() -> str:
        db = open_database(postgresql_url)
        try:
            merchant_id = await admin.create_merchant(
                db, name="Two", country="TH", currency="THB", timezone="Asia/Bangkok"
            )
            books = Books(db, merchant_id)
            await asyncio.gather(*(books.pay(1_000 + i) for i in range(60)))
            return merchant_id
        finally:
            await db.dispose()

    merchant_id = asyncio.run(traffic())
    env = {**os.environ, "DATABASE_URL": postgresql_url, "GATEWAY_PROFILE": "test"}
    command = [sys.executable, "-m", "gateway.cli", "settle", "--date", D.isoformat(),
               "--merchant", merchant_id, "--force"]  # fmt: skip
    processes = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=60)[0].decode() for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    assert sorted(o.split(":")[0] for o in outputs) == ["already closed", "closed"], outputs

    async def count() -> tuple[int, int]:
        db = open_database(postgresql_url)
        try:
            async with db.reader.connect() as conn:
                batches = metadata.tables["settlement_batches"]
                events = metadata.tables["events"]
                rows = await conn.scalar(
                    sa.select(sa.func.count()).where(batches.c.merchant_id == merchant_id)
                )
                sent = await conn.scalar(
                    sa.select(sa.func.count()).where(
                        events.c.merchant_id == merchant_id, events.c.type == "settlement.closed"
                    )
                )
            return int(rows), int(sent)
        finally:
            await db.dispose()

    assert asyncio.run(count()) == (1, 1)
