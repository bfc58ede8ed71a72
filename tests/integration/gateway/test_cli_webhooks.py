"""`gateway merchants webhook ...` and `gateway merchants signing ...` against a real SQLite file:
secrets are printed once on stdout, stored only sealed, and rotated or cleared on demand."""

from __future__ import annotations

import asyncio
import re
import secrets
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from gateway.cli import main
from gateway.core.secrets import Purpose, SecretBox
from gateway.merchants.model import Merchant
from gateway.storage import payments as repo
from gateway.storage.db import open_database

SECRETS_KEY = secrets.token_urlsafe(32)


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("GATEWAY_PROFILE", "test")
    monkeypatch.setenv("GATEWAY_SECRETS_KEY", SECRETS_KEY)
    return CliRunner()


@pytest.fixture
def merchant(cli: CliRunner) -> str:
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
        ],
    )
    assert made.exit_code == 0, made.output
    return made.stdout.strip()


def _merchant(tmp_path: Path, merchant_id: str) -> Merchant:
    async def go() -> Merchant:
        db = open_database(f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
        try:
            row = await repo.get_merchant(db, merchant_id)
        finally:
            await db.dispose()
        assert row is not None
        return row

    return asyncio.run(go())


def _opened(row: Merchant, purpose: Purpose) -> tuple[str, ...]:
    sealed = row.webhook_secret if purpose is Purpose.WEBHOOK else row.signing_secret
    assert sealed is not None
    box = SecretBox(SECRETS_KEY.encode())
    opened = box.open(sealed, merchant_id=row.id, purpose=purpose)
    return opened.live(datetime.now(UTC))


def _ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def test_webhook_set_rotate_clear(cli: CliRunner, merchant: str, tmp_path: Path) -> None:
    url = "https://shop.example/hooks?source=gateway"
    secret = _ok(cli.invoke(main, ["merchants", "webhook", "set", merchant, "--url", url]))
    assert re.fullmatch(r"whsec_[A-Za-z0-9_-]{43}", secret)
    row = _merchant(tmp_path, merchant)
    assert row.webhook_url == url
    assert secret not in (row.webhook_secret or "")  # sealed, never in the clear
    assert _opened(row, Purpose.WEBHOOK) == (secret,)

    # Setting another URL keeps the secret (and does not print it again).
    again = cli.invoke(main, ["merchants", "webhook", "set", merchant, "--url", url + "&v=2"])
    assert _ok(again) == "" and "unchanged" in again.stderr
    assert _opened(_merchant(tmp_path, merchant), Purpose.WEBHOOK) == (secret,)

    rotated = _ok(cli.invoke(main, ["merchants", "webhook", "rotate-secret", merchant]))
    assert rotated.startswith("whsec_") and rotated != secret
    assert _opened(_merchant(tmp_path, merchant), Purpose.WEBHOOK) == (rotated,)
    graced = _ok(
        cli.invoke(
            main, ["merchants", "webhook", "rotate-secret", merchant, "--keep-previous", "24h"]
        )
    )
    assert _opened(_merchant(tmp_path, merchant), Purpose.WEBHOOK) == (graced, rotated)

    cleared = _ok(cli.invoke(main, ["merchants", "webhook", "clear", merchant]))
    assert "cleared" in cleared
    row = _merchant(tmp_path, merchant)
    assert row.webhook_url is None and row.webhook_secret is None
    # A URL set again gets a new secret, shown once.
    fresh = _ok(cli.invoke(main, ["merchants", "webhook", "set", merchant, "--url", url]))
    assert fresh.startswith("whsec_") and fresh not in (secret, rotated, graced)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://shop.example/hooks",
        "shop.example/hooks",
        "https:///hooks",
        "https://user:pass@shop.example/hooks",
        "https://shop.example/hooks#frag",
        "https://shop.example:99999/hooks",
        "https://shop.example/ho oks",
        "https://shop.example/" + "x" * 2000,
    ],
)
def test_bad_webhook_urls_are_refused(cli: CliRunner, merchant: str, url: str) -> None:
    result = cli.invoke(main, ["merchants", "webhook", "set", merchant, "--url", url])
    assert result.exit_code != 0 and "--url" in result.output


def test_plain_http_is_allowed_with_a_warning(cli: CliRunner, merchant: str) -> None:
    result = cli.invoke(
        main, ["merchants", "webhook", "set", merchant, "--url", "http://shop.example/h"]
    )
    assert result.exit_code == 0 and "warning: plain http" in result.stderr
    local = cli.invoke(
        main, ["merchants", "webhook", "set", merchant, "--url", "http://127.0.0.1:9/h"]
    )
    assert local.exit_code == 0 and "warning" not in local.stderr


def test_unknown_merchants_and_missing_setup(cli: CliRunner, merchant: str) -> None:
    for args in (
        ["webhook", "set", "mer_nope", "--url", "https://x.example/"],
        ["webhook", "rotate-secret", "mer_nope"],
        ["webhook", "clear", "mer_nope"],
        ["signing", "enable", "mer_nope"],
        ["signing", "disable", "mer_nope"],
    ):
        result = cli.invoke(main, ["merchants", *args])
        assert result.exit_code != 0 and "no merchant mer_nope" in result.output, args
    no_webhook = cli.invoke(main, ["merchants", "webhook", "rotate-secret", merchant])
    assert no_webhook.exit_code != 0 and "webhook set" in no_webhook.output
    no_signing = cli.invoke(main, ["merchants", "signing", "rotate-secret", merchant])
    assert no_signing.exit_code != 0 and "signing enable" in no_signing.output
    _ok(cli.invoke(main, ["merchants", "signing", "enable", merchant]))
    for grace in ("8d", "x", "-1s"):
        refused = cli.invoke(
            main, ["merchants", "signing", "rotate-secret", merchant, "--keep-previous", grace]
        )
        assert refused.exit_code != 0 and "--keep-previous" in refused.output, grace


def test_signing_enable_disable_rotate(cli: CliRunner, merchant: str, tmp_path: Path) -> None:
    secret = _ok(cli.invoke(main, ["merchants", "signing", "enable", merchant]))
    assert re.fullmatch(r"gsk_[A-Za-z0-9_-]{43}", secret)
    row = _merchant(tmp_path, merchant)
    assert row.require_signature is True and secret not in (row.signing_secret or "")
    assert _opened(row, Purpose.SIGNING) == (secret,)

    assert "no longer" in _ok(cli.invoke(main, ["merchants", "signing", "disable", merchant]))
    row = _merchant(tmp_path, merchant)
    assert row.require_signature is False and _opened(row, Purpose.SIGNING) == (secret,)
    # Enabling again keeps the secret the merchant already has.
    again = cli.invoke(main, ["merchants", "signing", "enable", merchant])
    assert _ok(again) == "" and "unchanged" in again.stderr
    assert _merchant(tmp_path, merchant).require_signature is True

    rotated = _ok(cli.invoke(main, ["merchants", "signing", "rotate-secret", merchant]))
    assert rotated.startswith("gsk_") and rotated != secret
    assert _opened(_merchant(tmp_path, merchant), Purpose.SIGNING) == (rotated,)


def test_the_secrets_key_must_be_in_the_environment(
    cli: CliRunner, merchant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GATEWAY_SECRETS_KEY")
    result = cli.invoke(main, ["merchants", "signing", "enable", merchant])
    assert result.exit_code != 0
    assert "security.secrets_key_env: environment variable GATEWAY_SECRETS_KEY is not set" in (
        result.output
    )


def test_sealed_under_another_key_is_explained(
    cli: CliRunner, merchant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _ok(cli.invoke(main, ["merchants", "signing", "enable", merchant]))
    monkeypatch.setenv("GATEWAY_SECRETS_KEY", secrets.token_urlsafe(32))
    kept = cli.invoke(
        main, ["merchants", "signing", "rotate-secret", merchant, "--keep-previous", "1h"]
    )
    assert kept.exit_code != 0 and "another secrets key" in kept.output
    # Without a grace period the old secret is not needed: rotation recovers.
    assert _ok(cli.invoke(main, ["merchants", "signing", "rotate-secret", merchant]))


def test_fx_markups_set_replace_and_clear(cli: CliRunner, merchant: str, tmp_path: Path) -> None:
    out = _ok(cli.invoke(main, ["merchants", "fx", "set", merchant, "--markup-bps", "120"]))
    assert out == f"120 bps  merchant={merchant} (merchant)"
    args = ["merchants", "fx", "set", merchant, "--markup-bps", "90", "--wallet", "kakaopay"]
    _ok(cli.invoke(main, args))
    _ok(cli.invoke(main, [*args[:4], "--markup-bps", "95", *args[6:], "--pair", "THB/KRW"]))
    _ok(cli.invoke(main, [*args[:5], "80", *args[6:]]))  # replaces the kakaopay rule
    rules = {(r.wallet, r.pair): r.bps for r in _merchant(tmp_path, merchant).markups}
    assert rules == {(None, None): 120, ("kakaopay", None): 80, ("kakaopay", "THB/KRW"): 95}
    for bad, says in (
        (["--markup-bps", "10001"], "0 to 10000"),
        (["--markup-bps", "5", "--wallet", "nope"], "no wallet 'nope'"),
        (["--markup-bps", "5", "--pair", "JPY/KRW"], "merchant's currency, THB"),
        (["--markup-bps", "5", "--pair", "THBKRW"], "not a currency pair"),
    ):
        result = cli.invoke(main, ["merchants", "fx", "set", merchant, *bad])
        assert result.exit_code != 0 and says in result.output, result.output
    assert len(_merchant(tmp_path, merchant).markups) == 3  # refused input changed nothing
    cleared = cli.invoke(main, ["merchants", "fx", "clear", merchant, "--wallet", "kakaopay"])
    assert cleared.exit_code == 0 and "rule removed" in cleared.output
    again = cli.invoke(main, ["merchants", "fx", "clear", merchant, "--wallet", "kakaopay"])
    assert "no such rule" in again.output
    assert len(_merchant(tmp_path, merchant).markups) == 2
