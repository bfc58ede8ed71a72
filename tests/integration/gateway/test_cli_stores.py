"""`gateway stores` refuses bad input clearly and writes nothing, against a real SQLite file
(no partner is reached). Creating a store against a sandbox partner, and paying it, is
tests/e2e/test_entry_codes.py."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from gateway.cli import main
from gateway.core.config import load_settings
from gateway.sandboxes import sandbox_environment
from gateway.storage.db import open_database
from gateway.storage.tables import metadata


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("GATEWAY_PROFILE", "test")
    return CliRunner()


@pytest.fixture
def merchant(cli: CliRunner) -> str:
    assert cli.invoke(main, ["migrate"]).exit_code == 0
    made = cli.invoke(
        main,
        [
            *("merchants", "create", "--name", "Siam Souvenirs", "--country", "TH"),
            *("--currency", "THB", "--timezone", "Asia/Bangkok"),
        ],
    )
    assert made.exit_code == 0, made.output
    return made.output.strip()


def _stores(tmp_path: Path) -> int:
    async def count() -> int:
        db = open_database(f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
        try:
            async with db.reader.connect() as conn:
                table = metadata.tables["stores"]
                total = await conn.scalar(sa.select(sa.func.count()).select_from(table))
                return int(total or 0)
        finally:
            await db.dispose()

    return asyncio.run(count())


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--merchant", "mer_nobody", "--name", "A shop"], "no merchant"),
        (["--name", "A shop", "--qr-out", "store.jpg"], ".svg or .png"),
        (["--name", "A shop", "--qr-out", "no/such/folder/store.svg"], "not a folder"),
        (["--name", "A shop", "--partner", "xx-nobody"], "no partner"),
        (["--name", "A shop", "--partner", "jp-sakurapay"], "--partner"),  # not in Thailand
        (["--name", " "], "--name"),
    ],
)
def test_bad_create_input_is_refused_and_writes_nothing(
    cli: CliRunner, merchant: str, tmp_path: Path, args: list[str], complaint: str
) -> None:
    if "--merchant" not in args:
        args = ["--merchant", merchant, *args]
    # sandbox credentials, enough to build the adapters: no partner is called
    env = sandbox_environment(load_settings(profile="test"), {})
    result = cli.invoke(main, ["stores", "create", *args], env=env)
    assert result.exit_code == 2, result.output
    assert complaint in result.output
    assert _stores(tmp_path) == 0


def test_missing_partner_credentials_are_named(
    cli: CliRunner, merchant: str, tmp_path: Path
) -> None:
    result = cli.invoke(
        main,
        ["stores", "create", "--merchant", merchant, "--name", "A shop"],
        env={"TH_SIAMPAY_CLIENT_ID": None, "TH_SIAMPAY_PRIVATE_KEY": None},
    )
    assert result.exit_code == 1, result.output
    assert "TH_SIAMPAY_CLIENT_ID" in result.output  # th-siampay's: the one it would register with
    assert "TH_KRUNGPAY" not in result.output  # the market's second partner is not needed
    assert _stores(tmp_path) == 0


def test_unknown_stores_and_merchants_are_refused(cli: CliRunner, merchant: str) -> None:
    for args in (
        ["disable", "sto_nobody"],
        ["enable", "sto_nobody"],
        ["register", "sto_nobody"],
        ["qr", "sto_nobody", "--out", "store.svg"],
        ["list", "--merchant", "mer_nobody"],
    ):
        result = cli.invoke(main, ["stores", *args])
        assert result.exit_code == 2, (args, result.output)
        assert "no store" in result.output or "no merchant" in result.output, result.output
    empty = cli.invoke(main, ["stores", "list", "--merchant", merchant])
    assert empty.exit_code == 0 and empty.output == ""
