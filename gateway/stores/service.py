"""Stores with a static entry code (issue #15): create (register with the partner), list,
disable, enable.

    validate → the partner (the first of the merchant's market offering entry codes) → insert
    the store `pending` → `register_store` (`PartnerCalls`) → store its code: `active`

Registering the same store id again is the same registration at the partner, so an unknown
answer is asked again (here a few times, then by `gateway stores register STORE_ID`); a signed
refusal forgets the pending store. Entry orders for a store are taken by
`gateway/payments/entry.py`.
"""

from __future__ import annotations

import asyncio
import logging
import unicodedata
from collections.abc import Sequence
from typing import Protocol

from adapters import Clock, EntryCode, Operation, OutcomeStatus, StoreRegistration
from gateway.core.config import Partner, Settings
from gateway.core.ids import new_id
from gateway.merchants.admin import AdminError
from gateway.merchants.model import Merchant
from gateway.partners.calls import PartnerCalls
from gateway.payments.presented import notify_url
from gateway.storage import payments as merchants_repo
from gateway.storage import stores as repo
from gateway.storage.db import Database
from gateway.storage.writer import GroupCommitWriter
from gateway.stores.model import NAME_LENGTH, Store, StoreStatus

__all__ = [
    "REGISTRATION_TRIES",
    "StoreDeps",
    "StoreRegistrationFailed",
    "StoreRegistrationUnknown",
    "check_name",
    "create_store",
    "disable_store",
    "enable_store",
    "entry_partners",
    "get_store",
    "list_stores",
    "register_store",
]

log = logging.getLogger(__name__)

REGISTRATION_TRIES = 3
"""Registrations sent before an unknown answer is left to `gateway stores register`."""
_PAUSE = 0.5  # seconds before the second try, doubling


class StoreDeps(Protocol):
    """What creating a store needs: a running gateway's `Context` has it, and so does the
    command line's own (`gateway/cli/stores.py`)."""

    @property
    def settings(self) -> Settings: ...
    @property
    def db(self) -> Database: ...
    @property
    def writer(self) -> GroupCommitWriter: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def partners(self) -> PartnerCalls: ...


class StoreRegistrationFailed(Exception):
    """The partner refused to register the store (a signed refusal): nothing was kept."""


class StoreRegistrationUnknown(Exception):
    """The partner's answer is unknown: the store stays `pending`; register it again."""

    def __init__(self, store: Store, message: str) -> None:
        super().__init__(message)
        self.store = store


def entry_partners(settings: Settings, partners: PartnerCalls, country: str) -> list[Partner]:
    """The partners that may register a store of a merchant in `country`: licensed there,
    offering entry codes, best first (priority, then id: the routing order)."""
    return sorted(
        (
            p
            for p in settings.partners
            if country in p.markets
            and p.id in partners
            and Operation.ENTRY_CODE in partners.capabilities(p.id)
        ),
        key=lambda p: (p.priority, p.id),
    )


def check_name(name: str) -> str:
    """A store's name as stored (trimmed); `AdminError` if it cannot be one."""
    name = name.strip()
    if not 1 <= len(name) <= NAME_LENGTH:
        raise AdminError("--name", f"a store's name has 1 to {NAME_LENGTH} characters")
    if any(unicodedata.category(ch).startswith("C") for ch in name):
        raise AdminError("--name", "a store's name may not hold control characters")
    return name


async def _merchant(db: Database, merchant_id: str) -> Merchant:
    merchant = await merchants_repo.get_merchant(db, merchant_id)
    if merchant is None:
        raise AdminError("--merchant", f"no merchant {merchant_id!r}")
    return merchant


async def create_store(
    deps: StoreDeps,
    *,
    merchant_id: str,
    name: str,
    notify_base: str,
    partner: str | None = None,
) -> Store:
    """A new store of the merchant, registered with the partner (`partner`, or the first of
    its market offering entry codes), with its code. Bad input is an `AdminError` and writes
    nothing; `StoreRegistrationFailed` (nothing kept) or `StoreRegistrationUnknown` (kept
    `pending`) when the partner issued no code."""
    name = check_name(name)
    merchant = await _merchant(deps.db, merchant_id)
    candidates = entry_partners(deps.settings, deps.partners, merchant.country)
    if partner is not None:
        chosen = [p for p in candidates if p.id == partner]
        if not chosen:
            raise AdminError(
                "--partner",
                f"{partner!r} is not a partner offering entry codes in {merchant.country}",
            )
    elif not candidates:
        raise AdminError(
            "--merchant", f"no partner offers entry codes in {merchant.country} (the merchant's)"
        )
    else:
        chosen = candidates[:1]
    now = deps.clock.now()
    store = Store(
        id=new_id("sto"),
        merchant_id=merchant.id,
        name=name,
        partner=chosen[0].id,
        status=StoreStatus.PENDING,
        created_at=now,
        updated_at=now,
    )
    await deps.writer.run(repo.insert_store(store))
    log.info("store %s of %s: registering with %s", store.id, merchant.id, store.partner)
    return await _register(deps, store, merchant, notify_base)


async def register_store(deps: StoreDeps, *, store_id: str, notify_base: str) -> Store:
    """Ask the partner again for a store's code (a `pending` store's, whose answer was lost;
    an active store's gets the same code)."""
    store = await get_store(deps.db, store_id)
    merchant = await _merchant(deps.db, store.merchant_id)
    if store.partner not in deps.partners:
        raise AdminError("STORE_ID", f"its partner {store.partner!r} is no longer configured")
    return await _register(deps, store, merchant, notify_base)


async def _register(deps: StoreDeps, store: Store, merchant: Merchant, notify_base: str) -> Store:
    request = StoreRegistration(
        merchant=merchant.at_till(store.id, None),
        name=store.name,
        currency=merchant.currency,
        notify_url=notify_url(notify_base, store.partner),
    )
    pause = _PAUSE
    for attempt in range(1, REGISTRATION_TRIES + 1):
        result = await deps.partners.register_store(store.partner, request)
        if isinstance(result, EntryCode):
            if not result.code:
                log.error(
                    "ALERT %s registered store %s with an empty code", store.partner, store.id
                )
                break
            registered = store.registered(
                code=result.code,
                partner_store_id=result.partner_store_id,
                now=deps.clock.now(),
            )
            written = await deps.writer.run(repo.save_registration(registered))
            assert written is not None, "a store is never deleted once registered"
            log.info("store %s registered with %s", store.id, store.partner)
            return written
        if result.status is OutcomeStatus.FAILED:
            if store.status is StoreStatus.PENDING:
                await deps.writer.run(repo.delete_pending(store.id))
            reason = result.partner_code or result.message or "refused"
            raise StoreRegistrationFailed(
                f"{store.partner} refused to register the store: {reason}"
                + ("; nothing was kept" if store.status is StoreStatus.PENDING else "")
            )
        log.warning(
            "store %s: %s's answer to its registration is unknown (%s), try %d of %d",
            store.id,
            store.partner,
            result.message,
            attempt,
            REGISTRATION_TRIES,
        )
        if attempt < REGISTRATION_TRIES:
            await asyncio.sleep(pause)
            pause *= 2
    raise StoreRegistrationUnknown(
        store,
        f"{store.partner} did not confirm the registration of store {store.id}; it stays "
        f"{store.status.value}: run `gateway stores register {store.id}` to ask again",
    )


async def get_store(db: Database, store_id: str) -> Store:
    store = await repo.get_store(db, store_id)
    if store is None:
        raise AdminError("STORE_ID", f"no store {store_id!r}")
    return store


async def list_stores(db: Database, merchant_id: str) -> Sequence[Store]:
    """The merchant's stores, oldest first."""
    await _merchant(db, merchant_id)
    return await repo.list_stores(db, merchant_id)


async def disable_store(deps: StoreDeps, store_id: str) -> Store:
    """Every entry order for the store is refused from now on (its printed code stays valid
    at the partner: enable it again to take payments)."""
    await get_store(deps.db, store_id)
    changed = await deps.writer.run(
        repo.change_status(
            store_id=store_id,
            to=StoreStatus.DISABLED,
            allowed=(StoreStatus.ACTIVE, StoreStatus.PENDING),
            now=deps.clock.now(),
        )
    )
    assert changed is not None
    log.info("store %s disabled", store_id)
    return changed


async def enable_store(deps: StoreDeps, store_id: str) -> Store:
    """A disabled store takes entry orders again (one never registered stays pending)."""
    store = await get_store(deps.db, store_id)
    to = StoreStatus.ACTIVE if store.code is not None else StoreStatus.PENDING
    changed = await deps.writer.run(
        repo.change_status(
            store_id=store_id, to=to, allowed=(StoreStatus.DISABLED,), now=deps.clock.now()
        )
    )
    assert changed is not None
    log.info("store %s %s", store_id, changed.status.value)
    return changed
