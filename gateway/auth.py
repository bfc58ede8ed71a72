"""API keys: 256-bit random secrets, shown once, stored as SHA-256 (API.md, Authentication).

A fast hash is right here: the key has 256 bits of entropy, so there is nothing to brute-force.
Lookups are cached for a short time so the hot path does not read the database per request.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import secrets
import time
from typing import Any

from gateway.errors import AuthenticationFailed, Forbidden, NotFound
from gateway.storage import repository as repo
from gateway.storage.db import Database

__all__ = ["KeyStore", "NewKey", "Principal", "Role", "generate_key", "hash_key"]


class Role(enum.StrEnum):
    POS = "pos"
    FINANCE = "finance"
    OPERATOR = "operator"


@dataclasses.dataclass(frozen=True, slots=True)
class NewKey:
    plaintext: str
    key_hash: str
    hint: str


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def generate_key(role: Role) -> NewKey:
    plaintext = f"gw_{role.value}_{secrets.token_urlsafe(32)}"
    return NewKey(plaintext, hash_key(plaintext), hint=f"{plaintext[:10]}...{plaintext[-4:]}")


@dataclasses.dataclass(frozen=True, slots=True)
class Principal:
    key_id: str
    role: Role
    merchant: dict[str, Any] | None

    @property
    def merchant_id(self) -> str | None:
        return self.merchant["id"] if self.merchant else None

    def require(self, *roles: Role) -> None:
        if self.role not in roles:
            raise Forbidden(f"A {self.role.value} key may not do this.")

    def merchant_for_writes(self) -> dict[str, Any]:
        """The merchant a POS key acts for; other roles may not create payments or quotes."""
        self.require(Role.POS)
        assert self.merchant is not None
        return self.merchant

    def check_owns(self, merchant_id: str, what: str) -> None:
        """Another merchant's object is `404`, never `403`: no existence leak."""
        if self.role is not Role.OPERATOR and merchant_id != self.merchant_id:
            raise NotFound(f"No {what}.")


class KeyStore:
    def __init__(self, db: Database, ttl_seconds: float = 30.0, max_entries: int = 10_000) -> None:
        self._db = db
        self._ttl = ttl_seconds
        self._max = max_entries
        self._cache: dict[str, tuple[float, Principal]] = {}

    async def authenticate(self, authorization: str | None) -> Principal:
        if not authorization or not authorization.startswith("Bearer "):
            raise AuthenticationFailed("Send your API key as 'Authorization: Bearer <key>'.")
        key_hash = hash_key(authorization[7:].strip())
        cached = self._cache.get(key_hash)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[1]
        row = await repo.find_api_key(self._db, key_hash)
        if row is None or row["revoked_at"] is not None:
            raise AuthenticationFailed("The API key is not valid.")
        merchant = None
        if row["merchant_id"] is not None:
            merchant = await repo.get_merchant(self._db, row["merchant_id"])
        principal = Principal(key_id=row["id"], role=Role(row["role"]), merchant=merchant)
        if len(self._cache) >= self._max:
            self._cache.clear()
        self._cache[key_hash] = (now + self._ttl, principal)
        return principal
