"""Merchants' secrets sealed at rest: AES-GCM under the environment's key, bound to merchant and
purpose; rotation grace; never shown by repr; the key resolved with file/key/fix errors."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from gateway.core.config import PROJECT_ROOT, ConfigError, load_settings, resolve_secrets_key
from gateway.core.secrets import Purpose, SealedSecretError, SecretBox, SecretSet, generate_secret

KEY = b"k" * 32
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def test_secrets_look_like_stripes() -> None:
    webhook, signing = generate_secret(Purpose.WEBHOOK), generate_secret(Purpose.SIGNING)
    assert re.fullmatch(r"whsec_[A-Za-z0-9_-]{43}", webhook)
    assert re.fullmatch(r"gsk_[A-Za-z0-9_-]{43}", signing)
    assert generate_secret(Purpose.WEBHOOK) != webhook


def test_seal_and_open() -> None:
    box = SecretBox(KEY)
    secret = generate_secret(Purpose.WEBHOOK)
    sealed = box.seal(SecretSet(secret), merchant_id="mer_1", purpose=Purpose.WEBHOOK)
    assert secret not in sealed and secret.removeprefix("whsec_") not in sealed
    assert sealed.startswith(f"v1.{box.key_id}.")
    assert box.open(sealed, merchant_id="mer_1", purpose=Purpose.WEBHOOK) == SecretSet(secret)
    # A fresh nonce each time: sealing twice gives two different values.
    assert sealed != box.seal(SecretSet(secret), merchant_id="mer_1", purpose=Purpose.WEBHOOK)
    # Another process with the same key opens it.
    assert SecretBox(KEY).open(sealed, merchant_id="mer_1", purpose=Purpose.WEBHOOK).current == (
        secret
    )


def test_bound_to_merchant_purpose_and_key() -> None:
    box = SecretBox(KEY)
    sealed = box.seal(SecretSet("whsec_x"), merchant_id="mer_1", purpose=Purpose.WEBHOOK)
    with pytest.raises(SealedSecretError, match="copied from another merchant"):
        box.open(sealed, merchant_id="mer_2", purpose=Purpose.WEBHOOK)
    with pytest.raises(SealedSecretError, match="rotate-secret mer_1"):
        box.open(sealed, merchant_id="mer_1", purpose=Purpose.SIGNING)
    other = SecretBox(b"o" * 32)
    with pytest.raises(SealedSecretError, match="another secrets key") as caught:
        other.open(sealed, merchant_id="mer_1", purpose=Purpose.WEBHOOK)
    assert box.key_id in str(caught.value) and other.key_id in str(caught.value)
    version, key_id, token = sealed.split(".")
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    for damaged in (f"{version}.{key_id}.{flipped}", "whsec_plain", "v1..", f"v1.{key_id}.!!"):
        with pytest.raises(SealedSecretError):
            box.open(damaged, merchant_id="mer_1", purpose=Purpose.WEBHOOK)


def test_never_printed() -> None:
    box = SecretBox(KEY)
    secret_set = SecretSet("whsec_verysecret", "whsec_old", NOW)
    assert "verysecret" not in repr(secret_set) and "whsec_old" not in str(secret_set)
    assert "k" * 8 not in repr(box) and box.key_id in repr(box)


def test_short_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        SecretBox(b"short")


def test_rotation_grace() -> None:
    first = SecretSet("whsec_a")
    assert first.live(NOW) == ("whsec_a",)
    graced = first.rotated("whsec_b", now=NOW, keep_previous_until=NOW + timedelta(hours=1))
    assert graced.live(NOW) == ("whsec_b", "whsec_a")
    assert graced.live(NOW + timedelta(minutes=59)) == ("whsec_b", "whsec_a")
    assert graced.live(NOW + timedelta(hours=1)) == ("whsec_b",)
    assert first.rotated("whsec_b", now=NOW, keep_previous_until=None) == SecretSet("whsec_b")
    # Sealing keeps the grace.
    box = SecretBox(KEY)
    sealed = box.seal(graced, merchant_id="mer_1", purpose=Purpose.SIGNING)
    assert box.open(sealed, merchant_id="mer_1", purpose=Purpose.SIGNING) == graced


def test_resolve_secrets_key_names_file_key_and_fix() -> None:
    settings = load_settings(PROJECT_ROOT / "configs", env={})
    assert settings.security.secrets_key_env == "GATEWAY_SECRETS_KEY"
    assert resolve_secrets_key(settings, {"GATEWAY_SECRETS_KEY": "s" * 43}) == b"s" * 43
    with pytest.raises(ConfigError) as missing:
        resolve_secrets_key(settings, {})
    assert str(missing.value).startswith(
        "configs/gateway.toml: security.secrets_key_env: environment variable "
        "GATEWAY_SECRETS_KEY is not set. Fix: export it"
    )
    assert "openssl rand -hex 32" in str(missing.value)
    with pytest.raises(ConfigError) as short:
        resolve_secrets_key(settings, {"GATEWAY_SECRETS_KEY": "tooshort-value"})
    assert "too short (14 bytes; at least 32)" in str(short.value)
    assert "tooshort-value" not in str(short.value)  # never echo a secret
