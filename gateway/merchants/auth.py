"""API keys: 256-bit random secrets, shown once, stored as SHA-256 (API.md, Authentication);
and signed requests for merchants that require them.

A fast hash is right here: the key has 256 bits of entropy, so there is nothing to brute-force.
Lookups are cached for a short time so the hot path does not read the database per request.

The cache (`KeyStore`, per process) holds each key's row and its merchant's row, read together,
for `durations.key_cache_ttl` (30 s by default). What the command line changes in the database
(signing enabled or disabled, a secret rotated, a webhook URL set) therefore reaches a running
gateway within that time, without a restart; a revoked key stops working within it too.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import hashlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from gateway.core.errors import AuthenticationFailed, Forbidden, NotFound
from gateway.core.secrets import Purpose, SealedSecretError, SecretBox, SecretSet
from gateway.events.signing import SIGNATURE_HEADER, SignatureError, verify_request
from gateway.merchants.model import Merchant
from gateway.storage import payments as repo
from gateway.storage.db import Database

__all__ = ["KeyStore", "NewKey", "Principal", "Role", "generate_key", "hash_key"]

log = logging.getLogger(__name__)

_MAX_AUTHORIZATION = 200


class Role(enum.StrEnum):
    POS = "pos"
    FINANCE = "finance"
    OPERATOR = "operator"


READERS = (Role.POS, Role.FINANCE, Role.OPERATOR)
"""Who may read payments, refunds, quotes and events (each only its own merchant's)."""


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
    merchant: Merchant | None

    @property
    def merchant_id(self) -> str | None:
        return self.merchant.id if self.merchant else None

    def require(self, *roles: Role) -> None:
        if self.role not in roles:
            raise Forbidden(f"A {self.role.value} key may not do this.")

    def merchant_for_writes(self) -> Merchant:
        """The merchant a POS key acts for; other roles may not create payments or quotes."""
        self.require(Role.POS)
        assert self.merchant is not None
        return self.merchant

    def check_owns(self, merchant_id: str, what: str) -> None:
        """Another merchant's object is `404`, never `403`: no existence leak."""
        if self.role is not Role.OPERATOR and merchant_id != self.merchant_id:
            raise NotFound(f"No {what}.")


class KeyStore:
    """Authenticates API keys (cached for `ttl_seconds`) and checks signed requests.

    `secrets` opens merchants' sealed signing secrets; without it (tests of keys alone) a
    merchant that signs cannot be served.
    """

    def __init__(
        self,
        db: Database,
        ttl_seconds: float = 30.0,
        max_entries: int = 10_000,
        *,
        secrets: SecretBox | None = None,
    ) -> None:
        self._db = db
        self._ttl = ttl_seconds
        self._max = max_entries
        self._cache: dict[str, tuple[float, Principal]] = {}
        self._lookups: dict[str, asyncio.Future[Principal]] = {}  # key hash -> the one in flight
        self._box = secrets
        self._opened: dict[str, SecretSet] = {}  # sealed value -> its secrets

    async def authenticate(self, authorization: str | None) -> Principal:
        scheme, _, token = (authorization or "").partition(" ")
        # Auth schemes are case-insensitive (RFC 9110 11.1).
        if authorization is None or scheme.lower() != "bearer":
            raise AuthenticationFailed("Send your API key as 'Authorization: Bearer <key>'.")
        # Our keys are short printable ASCII. Anything else (non-ASCII, bytes that are not
        # UTF-8, which aiohttp hands over as surrogates) is refused before it is hashed.
        if len(authorization) > _MAX_AUTHORIZATION or not (
            authorization.isascii() and authorization.isprintable()
        ):
            raise AuthenticationFailed("The API key is not valid.")
        key_hash = hash_key(token.strip())
        cached = self._cache.get(key_hash)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        # One lookup per key at a time: when an entry expires under load, the requests that
        # arrive meanwhile wait for it instead of each reading the database (a stampede).
        lookup = self._lookups.get(key_hash)
        if lookup is None:
            lookup = asyncio.ensure_future(self._look_up(key_hash))
            self._lookups[key_hash] = lookup
            lookup.add_done_callback(lambda done: self._forget(key_hash, done))
        return await asyncio.shield(lookup)

    async def _look_up(self, key_hash: str) -> Principal:
        row = await repo.find_api_key(self._db, key_hash)
        if row is None or row["revoked_at"] is not None:
            raise AuthenticationFailed("The API key is not valid.")
        merchant = None
        if row["merchant_id"] is not None:
            merchant = await repo.get_merchant(self._db, row["merchant_id"])
        principal = Principal(key_id=row["id"], role=Role(row["role"]), merchant=merchant)
        if len(self._cache) >= self._max:
            self._cache.clear()
        self._cache[key_hash] = (time.monotonic() + self._ttl, principal)
        return principal

    def _forget(self, key_hash: str, done: asyncio.Future[Principal]) -> None:
        if self._lookups.get(key_hash) is done:
            del self._lookups[key_hash]
        if not done.cancelled():
            done.exception()  # retrieved: a refused key is its waiters' answer, not a stray error

    async def verify_signature(
        self,
        principal: Principal,
        header: str | None,
        *,
        method: str,
        target: str,
        read_body: Callable[[], Awaitable[bytes]],
        now: datetime,
        tolerance: timedelta,
    ) -> None:
        """Raise `AuthenticationFailed` unless the request is signed as its merchant requires.

        A merchant with `require_signature` must sign every request of its keys. A signature
        sent by a merchant that does not require one is checked all the same (a wrong one is
        refused). Operator keys belong to no merchant and are not signed: the header is ignored.
        """
        merchant = principal.merchant
        if merchant is None or (header is None and not merchant.require_signature):
            return
        if header is None:
            raise AuthenticationFailed(
                f"{SIGNATURE_HEADER} is missing: this merchant requires signed requests "
                f"({SIGNATURE_HEADER}: t=<unix seconds>,v1=<hex HMAC-SHA256>)."
            )
        live = self._signing_secrets(merchant, now)
        if not live:
            raise AuthenticationFailed(
                f"{SIGNATURE_HEADER} is wrong: this merchant has no signing secret, so no "
                "signature can match (leave the header out, or ask for signing to be enabled)."
            )
        body = await read_body()
        try:
            verify_request(
                header, live, method=method, target=target, body=body, now=now, tolerance=tolerance
            )
        except SignatureError as exc:
            raise AuthenticationFailed(exc.message) from None

    def _signing_secrets(self, merchant: Merchant, now: datetime) -> tuple[str, ...]:
        sealed = merchant.signing_secret
        if not sealed:
            return ()
        opened = self._opened.get(sealed)
        if opened is None:
            if self._box is None:
                raise RuntimeError("KeyStore needs the secrets box to check signed requests")
            try:
                opened = self._box.open(sealed, merchant_id=merchant.id, purpose=Purpose.SIGNING)
            except SealedSecretError as exc:
                log.error("cannot check merchant %s's signed requests: %s", merchant.id, exc)
                raise
            if len(self._opened) >= self._max:
                self._opened.clear()
            self._opened[sealed] = opened
        return opened.live(now)
