"""Configuration of webhooks and signatures: production defaults (the schedule spans at least
24 h), the fast test profile, validation with file/key/fix, and the retry arithmetic."""

from __future__ import annotations

import shutil
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.core.config import (
    PROJECT_ROOT,
    ConfigError,
    Durations,
    Settings,
    WebhookSettings,
    load_settings,
)
from gateway.events.delivery import next_attempt
from gateway.sandboxes import sandbox_environment

SHIPPED = PROJECT_ROOT / "configs"
NOW = datetime(2026, 11, 26, tzinfo=UTC)


@pytest.fixture
def configs(tmp_path: Path) -> Path:
    target = tmp_path / "configs"
    shutil.copytree(SHIPPED, target)
    return target


def test_default_schedule_spans_at_least_24_hours() -> None:
    """API.md: retried with backoff until a 2xx; the default schedule spans at least 24 h."""
    schedule = WebhookSettings().schedule
    assert schedule[0] == timedelta(0)  # the first attempt is at once
    assert sum(schedule, timedelta(0)) >= timedelta(hours=24)
    assert WebhookSettings().span == timedelta(hours=27, minutes=36)
    assert list(schedule) == sorted(schedule)  # waits only grow


def test_shipped_defaults_match_the_models() -> None:
    raw = tomllib.loads((SHIPPED / "gateway.toml").read_text())
    assert set(raw["webhooks"]) == set(WebhookSettings.model_fields)
    settings = load_settings(SHIPPED, env={})
    assert settings.webhooks == WebhookSettings()
    assert settings.security.secrets_key_env == "GATEWAY_SECRETS_KEY"
    d = settings.durations
    assert d.signature_tolerance == timedelta(minutes=5) == Durations().signature_tolerance
    assert d.webhook_poll_interval == timedelta(seconds=1)
    assert d.key_cache_ttl == timedelta(seconds=30)
    assert settings.webhooks.timeout == timedelta(seconds=10)
    assert settings.webhooks.concurrency == 64 and settings.webhooks.jitter_percent == 10


def test_test_profile_is_fast() -> None:
    settings = load_settings(SHIPPED, "test", env={})
    webhooks = settings.webhooks
    assert webhooks.schedule == (
        timedelta(0),
        timedelta(milliseconds=50),
        timedelta(milliseconds=100),
        timedelta(milliseconds=200),
    )
    assert webhooks.timeout == timedelta(seconds=1)
    assert settings.durations.webhook_poll_interval == timedelta(milliseconds=50)
    assert settings.durations.key_cache_ttl == timedelta(milliseconds=200)
    assert settings.durations.signature_tolerance == timedelta(minutes=5)  # a window, not a wait
    assert settings.durations.lease_duration > webhooks.timeout * 1.25


def test_sandbox_environment_makes_the_secrets_key() -> None:
    settings = load_settings(SHIPPED, "test", env={})
    made = sandbox_environment(settings, {})
    assert len(made["GATEWAY_SECRETS_KEY"]) >= 32
    assert made["GATEWAY_SECRETS_KEY"] != made["GATEWAY_CODE_HASH_KEY"]
    kept = sandbox_environment(settings, {"GATEWAY_SECRETS_KEY": "x" * 40})
    assert "GATEWAY_SECRETS_KEY" not in kept


def _problems(configs: Path, text: str) -> str:
    (configs / "profiles" / "bad.toml").write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(configs, "bad", env={})
    return str(caught.value)


def test_schedule_must_start_at_once(configs: Path) -> None:
    message = _problems(configs, '[webhooks]\nschedule = ["1m", "5m"]\n')
    assert (
        "configs/profiles/bad.toml: webhooks.schedule[0]: the first attempt is made when the "
        'event is created. Fix: start the list with "0s".'
    ) in message


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('[webhooks]\nschedule = ["0s", "off"]\n', "webhooks.schedule[1]"),
        ('[webhooks]\nschedule = ["0s", 5]\n', "webhooks.schedule[1]"),
        ("[webhooks]\nschedule = []\n", "webhooks.schedule"),
        ("[webhooks]\nconcurrency = 0\n", "webhooks.concurrency"),
        ('[webhooks]\ntimeout = "0s"\n', "webhooks.timeout"),
        ('[webhooks]\nretries = "5"\n', "webhooks.retries"),
        ('[durations]\nsignature_tolerance = "off"\n', "durations.signature_tolerance"),
        ('[security]\nsecrets_key_env = "whsec_abc"\n', "security.secrets_key_env"),
    ],
)
def test_bad_values_name_file_and_key(configs: Path, text: str, where: str) -> None:
    assert f"configs/profiles/bad.toml: {where}:" in _problems(configs, text)


def test_lease_must_outlast_a_delivery(configs: Path) -> None:
    message = _problems(configs, '[webhooks]\ntimeout = "150s"\n')
    assert "durations.lease_duration: must outlast a webhook delivery" in message
    with pytest.raises(ValueError, match="must outlast a webhook delivery"):
        Settings(webhooks=WebhookSettings(timeout=timedelta(seconds=118)))


def test_next_attempt_follows_the_schedule_with_jitter() -> None:
    schedule = WebhookSettings().schedule
    assert next_attempt(schedule, 1, NOW, 0) == NOW + timedelta(minutes=1)
    assert next_attempt(schedule, 7, NOW, 0) == NOW + timedelta(hours=10)
    assert next_attempt(schedule, 8, NOW, 10) is None  # the schedule ran out
    for _ in range(100):
        due = next_attempt(schedule, 2, NOW, 10)
        assert due is not None
        assert NOW + timedelta(minutes=5) <= due <= NOW + timedelta(minutes=5.5)
