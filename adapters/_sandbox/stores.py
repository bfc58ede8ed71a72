"""A sandbox partner's registered stores and their entry codes, protocol-neutral (issue #15).

A merchant registers a store (the protocol's registration call: Alipay+ `merchants/
registration`, WalletRest `POST /v1/stores`); the sandbox keeps it here, under the merchant
account it came from (`owner`) and the merchant's own store id, and issues its **entry code**,
the static QR printed once at the till:

- in Thailand (THB) and the Philippines (PHP), whose national schemes print EMVCo codes, an
  EMVCo merchant-presented *static* payload (point of initiation 11, no amount) built with
  `adapters.emvco`: the national template (PromptPay, ID 29 with its AID; QR Ph, ID 28 with
  `ph.ppmi.p2m` and the sandbox's acquirer id) whose merchant id (`03`) is the partner's store
  id, and the same id as the additional data's store label (`62`/`03`), which is how a scan
  finds the store again;
- elsewhere a URL on the sandbox, `<base url>/e/<partner store id>`.

Registering the same store id again (same owner) is the same registration: the same partner
store id and the same code. Its name, category and notify URL are updated (the code printed
already stays valid); another currency or country is a conflict (`StoreConflict`), since the
printed code says the currency.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
from datetime import datetime
from typing import Any

from adapters import emvco
from adapters._clock import Clock
from fx import Currency, FXError, get_currency

__all__ = [
    "ENTRY_PATH",
    "STORES_PATH",
    "Store",
    "StoreConflict",
    "StoreRegistry",
    "entry_code",
]

ENTRY_PATH = "/e/"
STORES_PATH = "/_sandbox/stores"
SANDBOX_ACQUIRER = "SBXAPHM2XXX"  # a BIC-shaped acquirer id for QR Ph's template
_PARTNER_ID = re.compile(r"[A-Za-z0-9_-]{4,25}")
_EMVCO_MARKETS = {
    # country: (currency, template ID, AID, [sub-objects before the merchant id], city)
    "TH": ("THB", "29", emvco.PROMPTPAY_AID, (), "Bangkok"),
    "PH": ("PHP", "28", emvco.QRPH_AID, (("01", SANDBOX_ACQUIRER),), "Manila"),
}


class StoreConflict(ValueError):
    """A registration of a known store id that changes what its printed code says."""


@dataclasses.dataclass(slots=True)
class Store:
    """One registered store."""

    owner: str
    store_id: str
    partner_store_id: str
    merchant_id: str
    name: str
    currency: Currency
    country: str
    mcc: str
    notify_url: str
    code: str
    base_url: str
    registered_at: datetime
    registrations: int = 1

    def to_json(self) -> dict[str, Any]:
        return {
            "owner": self.owner,
            "store_id": self.store_id,
            "partner_store_id": self.partner_store_id,
            "merchant_id": self.merchant_id,
            "name": self.name,
            "currency": self.currency.code,
            "country": self.country,
            "mcc": self.mcc,
            "notify_url": self.notify_url,
            "code": self.code,
            "registered_at": self.registered_at.isoformat(),
            "registrations": self.registrations,
        }


def _label(text: str, limit: int) -> str:
    """`text` as EMVCo's printable ASCII (other characters become `?`), at most `limit`."""
    cleaned = "".join(c if " " <= c <= "~" else "?" for c in text).strip()
    return (cleaned or "Store")[:limit]


def entry_code(
    *,
    partner_store_id: str,
    name: str,
    currency: Currency,
    country: str,
    mcc: str,
    base_url: str,
) -> str:
    """The store's static code (module docstring): EMVCo where the market prints EMVCo codes
    in its own currency, else `<base_url>/e/<partner_store_id>`."""
    market = _EMVCO_MARKETS.get(country)
    if market is not None and market[0] == currency.code:
        _, template, aid, before, city = market
        category = mcc if len(mcc) == 4 and mcc.isdigit() else "5999"
        return emvco.merchant_code(
            account=(template, [("00", aid), *before, ("03", partner_store_id)]),
            category=category,
            currency=currency,
            country=country,
            name=_label(name, 25),
            city=city,
            additional=[("03", partner_store_id)],
        )
    return f"{base_url.rstrip('/')}{ENTRY_PATH}{partner_store_id}"


def partner_store_id_of(code: str) -> str | None:
    """The partner store id a scanned entry code names (either form), or None."""
    text = code.strip()
    if text.startswith("000201"):
        try:
            parsed = emvco.parse(text)
        except emvco.EmvcoError:
            return None
        if not parsed.static:
            return None
        candidate = parsed.templates.get("62", {}).get("03")
    elif ENTRY_PATH in text:
        candidate = text.rsplit(ENTRY_PATH, 1)[1].split("?", 1)[0].split("#", 1)[0].rstrip("/")
    else:
        candidate = text
    return candidate if candidate and _PARTNER_ID.fullmatch(candidate) else None


class StoreRegistry:
    """The stores of one sandbox app, by (owner, store id) and by partner store id."""

    def __init__(self, clock: Clock, *, id_prefix: str) -> None:
        self._clock = clock
        self._prefix = id_prefix
        self._stores: dict[tuple[str, str], Store] = {}
        self._by_partner_id: dict[str, Store] = {}

    def register(
        self,
        *,
        owner: str,
        store_id: str,
        merchant_id: str,
        name: str,
        currency: str,
        country: str,
        mcc: str,
        notify_url: str,
        base_url: str,
    ) -> tuple[Store, bool]:
        """(the store, whether it is new); `ValueError` for an unknown currency or a country
        that is not two capital letters, `StoreConflict` (module docstring)."""
        try:
            money_currency = get_currency(currency)
        except FXError:
            raise ValueError("currency is not an ISO 4217 code the sandbox knows") from None
        if not re.fullmatch(r"[A-Z]{2}", country):
            raise ValueError("country is not two capital letters")
        known = self._stores.get((owner, store_id))
        if known is not None:
            if known.currency != money_currency or known.country != country:
                raise StoreConflict(
                    "the store is registered with another currency or country: its printed "
                    "code would be wrong"
                )
            known.name, known.mcc, known.notify_url = name, mcc, notify_url
            known.merchant_id = merchant_id
            known.registrations += 1
            return known, False
        partner_store_id = f"{self._prefix}{secrets.token_hex(8)}"
        store = Store(
            owner=owner,
            store_id=store_id,
            partner_store_id=partner_store_id,
            merchant_id=merchant_id,
            name=name,
            currency=money_currency,
            country=country,
            mcc=mcc,
            notify_url=notify_url,
            code=entry_code(
                partner_store_id=partner_store_id,
                name=name,
                currency=money_currency,
                country=country,
                mcc=mcc,
                base_url=base_url,
            ),
            base_url=base_url,
            registered_at=self._clock.now(),
        )
        self._stores[(owner, store_id)] = store
        self._by_partner_id[partner_store_id] = store
        return store, True

    def by_code(self, code: str) -> Store | None:
        """The store whose entry code (EMVCo payload, URL, or bare partner store id) this is."""
        partner_store_id = partner_store_id_of(code)
        return self._by_partner_id.get(partner_store_id) if partner_store_id else None

    def get(self, owner: str, store_id: str) -> Store | None:
        return self._stores.get((owner, store_id))

    @property
    def stores(self) -> list[Store]:
        return list(self._stores.values())

    def to_json(self) -> dict[str, Any]:
        return {"stores": [store.to_json() for store in self._stores.values()]}
