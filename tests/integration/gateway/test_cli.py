"""The operator's command line against a real SQLite file."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.cli import main
from gateway.merchants.auth import hash_key
from gateway.storage import payments as repo
from gateway.storage.db import open_database


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("GATEWAY_PROFILE", "test")
    return CliRunner()


def _key_row(url: str, plaintext: str) -> dict[str, object] | None:
    async def go() -> dict[str, object] | None:
        db = open_database(url)
        try:
            return await repo.find_api_key(db, hash_key(plaintext))
        finally:
            await db.dispose()

    return asyncio.run(go())


def test_migrate_create_merchant_and_keys(cli: CliRunner, tmp_path: Path) -> None:
    assert cli.invoke(main, ["migrate"]).exit_code == 0
    made = cli.invoke(
        main,
        [
            "merchants",
            "create",
            "--name",
            "Siam Souvenirs",
            "--country",
            "TH",
            "--currency",
            "THB",
            "--timezone",
            "Asia/Bangkok",
            "--mdr-bps",
            "150",
        ],
    )
    assert made.exit_code == 0, made.output
    merchant_id = made.output.strip()
    assert merchant_id.startswith("mer_")

    pos = cli.invoke(main, ["keys", "create", "--merchant", merchant_id, "--role", "pos"])
    assert pos.exit_code == 0, pos.output
    plaintext = pos.output.strip()
    row = _key_row(f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}", plaintext)
    assert row is not None and row["role"] == "pos" and row["merchant_id"] == merchant_id
    assert plaintext not in str(row)  # only the hash is stored

    operator = cli.invoke(main, ["keys", "create", "--role", "operator"])
    assert operator.exit_code == 0 and operator.output.startswith("gw_operator_")


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--country", "XX", "--currency", "THB", "--timezone", "Asia/Bangkok"], "--country"),
        (["--country", "TH", "--currency", "XAU", "--timezone", "Asia/Bangkok"], "--currency"),
        (["--country", "TH", "--currency", "THB", "--timezone", "Mars/Base"], "--timezone"),
        (
            ["--country", "TH", "--currency", "THB", "--timezone", "UTC", "--cutoff", "25:00"],
            "--cutoff",
        ),
    ],
)
def test_bad_merchant_input_is_refused(cli: CliRunner, args: list[str], complaint: str) -> None:
    assert cli.invoke(main, ["migrate"]).exit_code == 0
    result = cli.invoke(main, ["merchants", "create", "--name", "X", *args])
    assert result.exit_code != 0
    assert complaint in result.output


def test_key_roles_need_the_right_binding(cli: CliRunner) -> None:
    assert cli.invoke(main, ["migrate"]).exit_code == 0
    no_merchant = cli.invoke(main, ["keys", "create", "--role", "pos"])
    assert no_merchant.exit_code != 0 and "--merchant" in no_merchant.output
    unknown = cli.invoke(main, ["keys", "create", "--role", "finance", "--merchant", "mer_nope"])
    assert unknown.exit_code != 0 and "no merchant" in unknown.output


def test_sandbox_keys_prints_exports_without_storing_them(cli: CliRunner, tmp_path: Path) -> None:
    result = cli.invoke(main, ["sandbox", "keys"], env={"TH_SIAMPAY_PRIVATE_KEY": ""})
    assert result.exit_code == 0, result.output
    assert "export TH_SIAMPAY_PRIVATE_KEY=" in result.output
    assert "BEGIN PRIVATE KEY" in result.output
    assert not list(tmp_path.glob("*.pem"))
