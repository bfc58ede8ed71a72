"""The shipped configuration, profiles, environment overrides and secrets resolution."""

from __future__ import annotations

import importlib.resources
import shutil
import tomllib
from datetime import time, timedelta
from pathlib import Path

import pydantic
import pytest

from adapters import Operation
from gateway.core.config import (
    PROJECT_ROOT,
    ConfigError,
    ConfigProblem,
    Durations,
    Partner,
    SandboxDelays,
    Settings,
    Timeouts,
    default_config_dir,
    load_settings,
    normalise_database_url,
    resolve_code_hash_key,
    resolve_credentials,
    resolve_sandbox_private_key,
)
from gateway.core.iso3166 import ALPHA2

SHIPPED = PROJECT_ROOT / "configs"


@pytest.fixture
def configs(tmp_path: Path) -> Path:
    """A copy of the shipped configs/ in a fresh project root."""
    target = tmp_path / "configs"
    shutil.copytree(SHIPPED, target)
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


# --- the shipped files -------------------------------------------------------------------------


def test_shipped_configs_load_with_production_defaults() -> None:
    settings = load_settings(SHIPPED, env={})

    assert settings.profile == "default"
    assert settings.config_dir == SHIPPED
    assert settings.project_root == PROJECT_ROOT
    assert settings.server.port == 8080
    assert settings.server.max_body_bytes == 65536
    assert settings.database.url == f"sqlite+aiosqlite:///{PROJECT_ROOT}/var/gateway.db"
    assert settings.security.code_hash_key_env == "GATEWAY_CODE_HASH_KEY"
    [ecb] = settings.fx.sources
    assert (ecb.name, ecb.kind, ecb.stale_after) == ("ecb", "ecb_xml", "ecb")
    assert ecb.url == "http://127.0.0.1:9101/fx/eurofxref-daily.xml"  # the sandbox's feed
    assert ecb.grace == timedelta(hours=2)
    assert settings.fx.markup_bps == 150
    assert settings.fx.refresh_interval == timedelta(minutes=15)
    assert settings.fx.max_move_bps == 1000
    d = settings.durations
    assert (d.pos_wait_budget, d.pay_retry_backoff, d.pay_retry_backoff_max) == (
        timedelta(seconds=10),
        timedelta(milliseconds=200),
        timedelta(seconds=2),
    )
    assert (d.inquiry_initial_interval, d.inquiry_max_interval, d.inquiry_deadline) == (
        timedelta(seconds=2),
        timedelta(seconds=10),
        timedelta(seconds=60),
    )
    assert (d.cancel_initial_interval, d.cancel_max_interval, d.cancel_deadline) == (
        timedelta(seconds=2),
        timedelta(seconds=60),
        timedelta(hours=24),
    )
    assert d.quote_lifetime == timedelta(minutes=5)
    assert d.idempotency_retention == timedelta(hours=48)
    assert d.resume_interval == timedelta(seconds=5)
    assert d.lease_duration == timedelta(seconds=120)
    assert d.readiness_timeout == timedelta(seconds=2)
    assert settings.partner_defaults.timeouts.as_seconds == {
        "pay": 8.0,
        "inquire": 5.0,
        "cancel": 8.0,
        "refund": 8.0,
        "inquire_refund": 5.0,
        "fetch_settlement_file": 30.0,
        "fx_rates": 5.0,
        "order_code": 8.0,
        "entry_code": 8.0,
        "connect": 2.0,
    }
    assert d.order_code_lifetime == timedelta(minutes=5)
    assert settings.sandbox == SandboxDelays(
        hold=timedelta(seconds=9), confirm=timedelta(seconds=2), expire=timedelta(seconds=3)
    )


def test_gateway_toml_writes_out_every_default() -> None:
    """The file and the models agree, so reading either tells the production values."""
    raw = tomllib.loads((SHIPPED / "gateway.toml").read_text())
    assert set(raw["durations"]) == set(Durations.model_fields)
    assert set(raw["partner_defaults"]["timeouts"]) == set(Timeouts.model_fields)
    assert set(raw["sandbox"]) == set(SandboxDelays.model_fields)
    assert load_settings(SHIPPED, env={}).model_dump(
        include={"durations", "partner_defaults", "sandbox", "server", "security"}
    ) == Settings().model_dump(
        include={"durations", "partner_defaults", "sandbox", "server", "security"}
    )


def test_shipped_wallets_and_partners() -> None:
    settings = load_settings(SHIPPED, env={})

    assert {w.id: (w.currency, w.prefixes) for w in settings.wallets.values()} == {
        "alipay_cn": ("CNY", ("28",)),
        "gcash": ("PHP", ("63",)),
        "kakaopay": ("KRW", ("81",)),
        "truemoney": ("THB", ("66",)),
    }
    assert [p.id for p in settings.partners] == [  # sorted by id
        "jp-sakurapay",
        "kr-hanapay",
        "ph-bayadpay",
        "th-krungpay",
        "th-siampay",
    ]
    # Two partners overlap in Thailand on alipay_cn, so routing has somewhere to fail over to.
    overlap = [p.id for p in settings.partners if "TH" in p.markets and "alipay_cn" in p.wallets]
    assert overlap == ["th-krungpay", "th-siampay"]
    th, jp = settings.partner("th-siampay"), settings.partner("jp-sakurapay")
    assert th.markets == ("TH",) and jp.markets == ("JP",)
    assert th.timezone == "Asia/Bangkok" and str(th.zone) == "Asia/Bangkok"
    assert jp.timezone == "Asia/Tokyo"
    assert th.cutoff == time(23, 0) and jp.cutoff == time(0, 0)
    assert th.wallets == {"alipay_cn": "CNY", "kakaopay": "KRW", "truemoney": "THB"}
    assert jp.wallets == {"alipay_cn": "CNY", "kakaopay": "KRW", "gcash": "PHP"}
    assert th.protocol == jp.protocol == "alipayplus"
    assert th.credentials == {
        "client_id": "TH_SIAMPAY_CLIENT_ID",
        "private_key": "TH_SIAMPAY_PRIVATE_KEY",
        "partner_public_key": "TH_SIAMPAY_PUBLIC_KEY",
    }
    assert th.sandbox.enabled and th.sandbox.private_key_env == "TH_SIAMPAY_SANDBOX_PRIVATE_KEY"
    assert jp.sandbox.private_key_env == "JP_SAKURAPAY_SANDBOX_PRIVATE_KEY"
    assert (th.port, jp.port) == (9101, 9102)
    assert th.licence.regulator and th.licence.number
    assert th.fees.bps >= 0 and all(v >= 0 for v in th.fees.fixed.values())
    assert th.source_file == "configs/partners/th-siampay.toml"
    assert th.timeouts == Timeouts()  # no overrides: the production defaults
    with pytest.raises(KeyError):
        settings.partner("nobody")


def test_test_profile_is_fast() -> None:
    settings = load_settings(SHIPPED, "test", env={})

    assert settings.profile == "test"
    d = settings.durations
    assert d.pos_wait_budget == timedelta(seconds=1.5)
    assert d.pay_retry_backoff == timedelta(milliseconds=20)
    assert (d.inquiry_initial_interval, d.inquiry_max_interval) == (
        timedelta(milliseconds=50),
        timedelta(milliseconds=200),
    )
    assert d.inquiry_deadline == timedelta(seconds=2.5)
    assert (d.cancel_initial_interval, d.cancel_max_interval, d.cancel_deadline) == (
        timedelta(milliseconds=50),
        timedelta(milliseconds=200),
        timedelta(seconds=10),
    )
    assert d.resume_interval == timedelta(milliseconds=100)
    assert d.lease_duration == timedelta(seconds=2.5)
    timeouts = settings.partner_defaults.timeouts
    assert (timeouts.pay, timeouts.inquire, timeouts.cancel, timeouts.connect) == (
        timedelta(milliseconds=400),
        timedelta(milliseconds=300),
        timedelta(milliseconds=400),
        timedelta(milliseconds=300),
    )
    for partner in settings.partners:
        assert partner.timeouts == timeouts  # the profile's defaults reach every partner
    assert settings.sandbox == SandboxDelays(
        hold=timedelta(milliseconds=800),
        confirm=timedelta(milliseconds=500),
        expire=timedelta(milliseconds=700),
    )
    # What the sandbox test codes rely on (API.md):
    assert settings.sandbox.hold > timeouts.pay  # 0091 times out at pay
    assert settings.sandbox.confirm < d.inquiry_deadline  # 0093 succeeds by inquiry
    assert settings.sandbox.expire < d.inquiry_deadline  # 0094 expires inside the deadline
    # Keys the overlay leaves alone keep gateway.toml's values.
    assert d.quote_lifetime == timedelta(minutes=5)
    assert settings.server.port == 8080


def test_profile_from_environment_and_argument_wins() -> None:
    assert load_settings(SHIPPED, env={"GATEWAY_PROFILE": "test"}).profile == "test"
    assert load_settings(SHIPPED, "default", env={"GATEWAY_PROFILE": "test"}).profile == "default"


def test_config_dir_from_environment(configs: Path) -> None:
    env = {"GATEWAY_CONFIG_DIR": str(configs)}
    assert default_config_dir(env) == configs
    assert default_config_dir({}) == SHIPPED
    settings = load_settings(env=env)
    assert settings.config_dir == configs
    assert settings.database.url == f"sqlite+aiosqlite:///{configs.parent}/var/gateway.db"


def test_overlay_is_deep_merged(configs: Path) -> None:
    (configs / "profiles" / "demo.toml").write_text(
        '[durations]\npos_wait_budget = "20s"\n[partner_defaults.timeouts]\npay = "3s"\n'
    )
    settings = load_settings(configs, "demo", env={})
    assert settings.durations.pos_wait_budget == timedelta(seconds=20)
    assert settings.durations.inquiry_deadline == timedelta(seconds=60)
    assert settings.partner_defaults.timeouts.pay == timedelta(seconds=3)
    assert settings.partner_defaults.timeouts.inquire == timedelta(seconds=5)
    assert settings.partner("th-siampay").timeouts.pay == timedelta(seconds=3)


def test_partner_timeout_overrides_apply_over_defaults(configs: Path) -> None:
    edit(configs / "partners" / "th-siampay.toml", "# [timeouts]", '[timeouts]\npay = "6s"\n#')
    settings = load_settings(configs, env={})
    th = settings.partner("th-siampay")
    assert th.timeouts.pay == timedelta(seconds=6)
    assert th.timeouts.inquire == timedelta(seconds=5)
    assert settings.partner("jp-sakurapay").timeouts.pay == timedelta(seconds=8)


def test_timeout_seconds_helpers() -> None:
    settings = load_settings(SHIPPED, env={})
    th = settings.partner("th-siampay")
    assert th.timeouts.seconds(Operation.PAY) == 8.0
    assert th.timeouts.seconds("connect") == 2.0
    with pytest.raises(KeyError):
        th.timeouts.seconds("teleport")
    by_operation = settings.partner_timeouts(th)
    assert {Operation(name) for name in by_operation} == set(Operation)
    assert by_operation["inquire"] == 5.0


def test_wallet_for_code() -> None:
    settings = load_settings(SHIPPED, env={})
    assert settings.wallet_for_code("2812345678900000").id == "alipay_cn"  # type: ignore[union-attr]
    assert settings.wallet_for_code("6612345678900000051").id == "truemoney"  # type: ignore[union-attr]
    assert settings.wallet_for_code("9912345678900000") is None
    assert settings.wallet_for_code("28123") is None  # too short for the wallet


def test_settings_are_frozen() -> None:
    settings = load_settings(SHIPPED, env={})
    with pytest.raises(pydantic.ValidationError):
        settings.durations.pos_wait_budget = timedelta(0)  # type: ignore[misc]


def test_iso3166_table_matches_tzdata() -> None:
    tab = importlib.resources.files("tzdata").joinpath("zoneinfo/iso3166.tab").read_text()
    codes = {line.split("\t")[0] for line in tab.splitlines() if not line.startswith("#")}
    assert len(ALPHA2) == 249
    assert codes == ALPHA2


# --- database URL ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://u:p@db:5432/gw", "postgresql+asyncpg://u:p@db:5432/gw"),
        ("postgresql://u@db/gw", "postgresql+asyncpg://u@db/gw"),
        ("postgresql+asyncpg://u@db/gw", "postgresql+asyncpg://u@db/gw"),
        ("sqlite:///var/x.db", "sqlite+aiosqlite:////srv/app/var/x.db"),
        ("sqlite+aiosqlite:///var/x.db?mode=rwc", "sqlite+aiosqlite:////srv/app/var/x.db?mode=rwc"),
        ("sqlite+aiosqlite:////abs/x.db", "sqlite+aiosqlite:////abs/x.db"),
        ("sqlite+aiosqlite:///:memory:", "sqlite+aiosqlite:///:memory:"),
        ("sqlite+aiosqlite://", "sqlite+aiosqlite://"),
    ],
)
def test_normalise_database_url(url: str, expected: str) -> None:
    assert normalise_database_url(url, Path("/srv/app")) == expected


def test_database_url_from_environment() -> None:
    env = {"DATABASE_URL": "postgres://gw:secret@127.0.0.1:5432/gateway"}
    settings = load_settings(SHIPPED, env=env)
    assert settings.database.url == "postgresql+asyncpg://gw:secret@127.0.0.1:5432/gateway"
    assert not settings.database.is_sqlite

    settings = load_settings(SHIPPED, env={"DATABASE_URL": "sqlite:///var/other.db"})
    assert settings.database.url == f"sqlite+aiosqlite:///{PROJECT_ROOT}/var/other.db"
    assert settings.database.is_sqlite


# --- secrets -----------------------------------------------------------------------------------


def _th() -> Partner:
    return load_settings(SHIPPED, env={}).partner("th-siampay")


def test_resolve_credentials_reads_the_named_variables() -> None:
    env = {
        "TH_SIAMPAY_CLIENT_ID": "SANDBOX_TH",
        "TH_SIAMPAY_PRIVATE_KEY": "-----BEGIN PRIVATE KEY-----...",
        "TH_SIAMPAY_PUBLIC_KEY": "-----BEGIN PUBLIC KEY-----...",
    }
    assert resolve_credentials(_th(), env) == {
        "client_id": "SANDBOX_TH",
        "private_key": "-----BEGIN PRIVATE KEY-----...",
        "partner_public_key": "-----BEGIN PUBLIC KEY-----...",
    }


def test_resolve_credentials_names_every_missing_variable() -> None:
    env = {"TH_SIAMPAY_CLIENT_ID": "SANDBOX_TH", "TH_SIAMPAY_PUBLIC_KEY": ""}
    with pytest.raises(ConfigError) as caught:
        resolve_credentials(_th(), env)
    assert str(caught.value).splitlines() == [
        "configs/partners/th-siampay.toml: credentials.private_key: environment variable "
        "TH_SIAMPAY_PRIVATE_KEY is not set. Fix: export it, or run `gateway sandbox keys` for "
        "the demo partners.",
        "configs/partners/th-siampay.toml: credentials.partner_public_key: environment variable "
        "TH_SIAMPAY_PUBLIC_KEY is empty. Fix: export it, or run `gateway sandbox keys` for the "
        "demo partners.",
    ]
    assert all(isinstance(p, ConfigProblem) for p in caught.value.problems)


def test_resolve_sandbox_key_and_code_hash_key() -> None:
    settings = load_settings(SHIPPED, env={})
    th = settings.partner("th-siampay")
    assert resolve_sandbox_private_key(th, {"TH_SIAMPAY_SANDBOX_PRIVATE_KEY": "pem"}) == "pem"
    with pytest.raises(ConfigError, match=r"sandbox\.private_key_env: environment variable"):
        resolve_sandbox_private_key(th, {})
    assert resolve_code_hash_key(settings, {"GATEWAY_CODE_HASH_KEY": "k" * 32}) == b"k" * 32
    with pytest.raises(ConfigError) as caught:
        resolve_code_hash_key(settings, {})
    assert str(caught.value).startswith(
        "configs/gateway.toml: security.code_hash_key_env: environment variable "
        "GATEWAY_CODE_HASH_KEY is not set. Fix: export it"
    )


def test_config_error_single() -> None:
    error = ConfigError.single("configs/gateway.toml", "server.port", "is taken", "pick another")
    assert str(error) == "configs/gateway.toml: server.port: is taken. Fix: pick another."
