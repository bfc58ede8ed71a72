"""Merchants' webhook and request-signing secrets: made here, sealed at rest with AES-256-GCM.

The gateway must read these secrets back (it signs webhooks and checks merchants' signatures with
them), so they are encrypted, not hashed, under a key from the environment: the variable named by
`security.secrets_key_env` (`GATEWAY_SECRETS_KEY`; `config.resolve_secrets_key`), never a file.
HKDF-SHA256 turns the variable's value (at least 32 bytes, e.g. `openssl rand -hex 32`) into the
AES key. The sandbox environment generates one, like the wallet-code hash key.

A sealed value reads `v1.<key id>.<base64url(nonce || ciphertext || tag)>`:
- the key id (derived from the key, revealing nothing of it) tells "sealed under another key"
  apart from "damaged", so the error can name the fix;
- the AES-GCM associated data binds the value to its merchant and purpose: a sealed webhook
  secret copied to another merchant, or into `signing_secret`, does not open.

What is sealed is a `SecretSet`: the current secret and, during a rotation's grace period, the
previous one with its expiry, so receivers (webhooks) and signers (requests) can switch over
without a gap. Secrets look like Stripe's: `whsec_<43 url-safe characters>` for webhooks,
`gsk_<...>` for request signing (256 random bits). They are shown once by the command line and
never logged: `SecretSet` and `SecretBox` print as `***`.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import enum
import hashlib
import hmac
import json
import os
import secrets as _random
from collections.abc import Mapping
from datetime import UTC, datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "MIN_KEY_BYTES",
    "Purpose",
    "SealedSecretError",
    "SecretBox",
    "SecretSet",
    "generate_secret",
]

MIN_KEY_BYTES = 32
_VERSION = "v1"
_NONCE_BYTES = 12


class Purpose(enum.StrEnum):
    """Which secret: the column it lives in, and its prefix."""

    WEBHOOK = "webhook"  # merchants.webhook_secret: we sign webhooks with it
    SIGNING = "signing"  # merchants.signing_secret: merchants sign their requests with it

    @property
    def prefix(self) -> str:
        return "whsec_" if self is Purpose.WEBHOOK else "gsk_"


def generate_secret(purpose: Purpose) -> str:
    """A new secret: the purpose's prefix and 256 random bits, url-safe base64."""
    return purpose.prefix + _random.token_urlsafe(32)


@dataclasses.dataclass(frozen=True, slots=True)
class SecretSet:
    """The current secret, and the previous one while its grace period lasts."""

    current: str
    previous: str | None = None
    previous_expires_at: datetime | None = None

    def live(self, now: datetime) -> tuple[str, ...]:
        """The secrets in force at `now`, the current one first."""
        if (
            self.previous is not None
            and self.previous_expires_at is not None
            and now < self.previous_expires_at
        ):
            return (self.current, self.previous)
        return (self.current,)

    def rotated(
        self, new: str, *, now: datetime, keep_previous_until: datetime | None
    ) -> SecretSet:
        """`new` becomes current; the current one stays valid until `keep_previous_until`."""
        if keep_previous_until is None or keep_previous_until <= now:
            return SecretSet(new)
        return SecretSet(new, self.current, keep_previous_until)

    def __repr__(self) -> str:
        return "SecretSet(***)"

    def _dump(self) -> bytes:
        data: dict[str, str] = {"current": self.current}
        if self.previous is not None and self.previous_expires_at is not None:
            data["previous"] = self.previous
            data["previous_expires_at"] = self.previous_expires_at.astimezone(UTC).isoformat()
        return json.dumps(data, separators=(",", ":")).encode()

    @classmethod
    def _load(cls, raw: bytes) -> SecretSet:
        data = json.loads(raw)
        if not isinstance(data, Mapping) or not isinstance(data.get("current"), str):
            raise ValueError("not a secret set")
        expires = data.get("previous_expires_at")
        return cls(
            data["current"],
            data.get("previous"),
            datetime.fromisoformat(expires) if isinstance(expires, str) else None,
        )


class SealedSecretError(Exception):
    """A sealed secret that cannot be opened: another key, another merchant, or damage.

    The message names the fix and never carries the secret or the key.
    """


class SecretBox:
    """Seals and opens `SecretSet`s with AES-256-GCM under the environment's key."""

    def __init__(self, key_material: bytes) -> None:
        if len(key_material) < MIN_KEY_BYTES:
            raise ValueError(f"the secrets key must have at least {MIN_KEY_BYTES} bytes")
        self._aead = AESGCM(_derive(key_material, b"gateway merchant secrets v1 aes-256-gcm"))
        self.key_id = _derive(key_material, b"gateway merchant secrets v1 key id")[:4].hex()

    def __repr__(self) -> str:
        return f"SecretBox(key_id={self.key_id}, key=***)"

    def seal(self, secret_set: SecretSet, *, merchant_id: str, purpose: Purpose) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, secret_set._dump(), _aad(merchant_id, purpose))
        token = base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode()
        return f"{_VERSION}.{self.key_id}.{token}"

    def open(self, sealed: str, *, merchant_id: str, purpose: Purpose) -> SecretSet:
        version, _, rest = sealed.partition(".")
        key_id, _, token = rest.partition(".")
        if version != _VERSION or not key_id or not token:
            raise SealedSecretError(
                f"merchant {merchant_id}'s {purpose.value} secret is not a sealed value; "
                f"set a new one (`gateway merchants {purpose.value} rotate-secret {merchant_id}`)"
            )
        if not hmac.compare_digest(key_id, self.key_id):
            raise SealedSecretError(
                f"merchant {merchant_id}'s {purpose.value} secret was sealed under another "
                f"secrets key (id {key_id}; this process has id {self.key_id}): export the key it "
                f"was sealed with, or set a new secret (`gateway merchants {purpose.value} "
                f"rotate-secret {merchant_id}`)"
            )
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            opened = self._aead.decrypt(
                raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _aad(merchant_id, purpose)
            )
            return SecretSet._load(opened)
        except (InvalidTag, binascii.Error, ValueError) as exc:
            raise SealedSecretError(
                f"merchant {merchant_id}'s {purpose.value} secret does not open (damaged, or "
                f"copied from another merchant or column): set a new one (`gateway merchants "
                f"{purpose.value} rotate-secret {merchant_id}`)"
            ) from exc


def _derive(key_material: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(key_material)


def _aad(merchant_id: str, purpose: Purpose) -> bytes:
    return hashlib.sha256(f"{_VERSION}|{purpose.value}|{merchant_id}".encode()).digest()
