"""A tourist pays a store's entry code in a sandbox partner, protocol-neutral (issue #15).

An entry code (`adapters._sandbox.stores`) has no amount: the tourist scans it, types the
amount and pays with their wallet. Before charging anyone the partner asks the merchant (the
gateway, at the store's notify URL) for the order: the **entry order**, a signed request in
the protocol's words (`EntryProtocol.entry_order`) naming the store, the typed amount and the
wallet. The gateway answers, signed, with the payment request it wants paid (its
`partner_request_id`, the exact payer amount in the wallet's currency, an expiry) or with a
refusal (`EntryProtocol.entry_answer` reads it, verifying the signature with the key the
merchant signs acknowledgments with).

Confirmed: the sandbox opens a pending payment under that request id exactly as an order
code's (`EntryProtocol.open_payment`: a ledger record of `Scenario.ORDER` plus an `Order` on
the order desk) and pays it through the order desk's own scan (`OrderDesk.scan`): the charge
or decline by the scan's suffix, then the ordinary signed payment notification, with every
notify switch (late, twice, bad_signature, never, amount_delta, max_attempts). `inquire`,
`cancel` and refunds then work on it as on any payment. Refused, unsigned, wrongly signed,
unreadable, inconsistent (two answers to one entry order that differ) or naming a request id
the ledger already holds: nothing is charged and the answer says why.

Scan body (`POST /_sandbox/scan`, `ScanOptions`): `code` (the EMVCo payload, the `/e/` URL
or the bare partner store id), `amount` (required: major units as typed, "125.50"), `wallet`
(required), `suffix` (0051 / 0059 / 0054 decline, 0503 refuses with nothing sent), the notify
switches, and `entry_twice` (test switch: the same entry order, byte for byte, sent twice:
the gateway must answer the same and the tourist is charged once).

Answer: 200 `{"state", "charged", "entry_order": {...}, "outcome", "notify", "notified",
"attempts", "order"}`; `state` is the order's (paid, declined) once charged, else `refused`
(the gateway said no), `unanswered` (no answer the sandbox can trust), `inconsistent`,
`conflict` (request id in use) or `expired` (the confirmation's expiry has passed).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

import httpx

from adapters._clock import Clock
from adapters._sandbox.ledger import SandboxLedger
from adapters._sandbox.orders import NOTIFY_TIMEOUT, Order, OrderDesk, OutboundNotification
from adapters._sandbox.scans import ScanOptions, ScanRefused, scan_outcome
from adapters._sandbox.scenarios import Outcome
from adapters._sandbox.stores import Store, StoreRegistry
from fx import FXError, Money, from_major_str

__all__ = ["EntryAnswer", "EntryDesk", "EntryOrderRecord", "EntryProtocol", "EntryScanResult"]

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class EntryAnswer:
    """What the merchant answered to one entry order (as the protocol read it)."""

    http_status: int | None
    signature_valid: bool | None
    confirmed: bool = False
    partner_request_id: str | None = None
    payer_amount: Money | None = None
    expires_at: datetime | None = None
    code: str | None = None  # the refusal's code, in the protocol's words
    message: str = ""
    error: str | None = None  # the POST itself failed, or the answer could not be read

    @property
    def charge(self) -> tuple[str | None, Money | None, datetime | None]:
        return self.partner_request_id, self.payer_amount, self.expires_at

    def to_json(self) -> dict[str, Any]:
        amount = self.payer_amount
        return {
            "http_status": self.http_status,
            "signature_valid": self.signature_valid,
            "confirmed": self.confirmed,
            "partner_request_id": self.partner_request_id,
            "payer_amount": None
            if amount is None
            else {"currency": amount.currency.code, "value": amount.value},
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "code": self.code,
            "message": self.message,
            "error": self.error,
        }


@dataclasses.dataclass(slots=True)
class EntryOrderRecord:
    """One entry order: a scan of `store`'s code for `amount` with `wallet`."""

    entry_order_id: str
    store: Store
    amount: Money
    wallet: str
    scanned_code: str
    created_at: datetime
    answers: list[EntryAnswer] = dataclasses.field(default_factory=list)
    payment_request_id: str | None = None  # what was charged (None: nothing)

    def to_json(self) -> dict[str, Any]:
        return {
            "entry_order_id": self.entry_order_id,
            "store_id": self.store.store_id,
            "partner_store_id": self.store.partner_store_id,
            "amount": {"currency": self.amount.currency.code, "value": self.amount.value},
            "wallet": self.wallet,
            "created_at": self.created_at.isoformat(),
            "answers": [answer.to_json() for answer in self.answers],
            "payment_request_id": self.payment_request_id,
        }


class EntryProtocol(Protocol):
    """What a protocol's sandbox supplies for entry orders, in its own words."""

    def entry_order(self, entry: EntryOrderRecord) -> OutboundNotification:
        """The signed entry order to POST to the store's notify URL."""
        ...

    def entry_answer(
        self, entry: EntryOrderRecord, status: int, headers: Mapping[str, str], body: bytes
    ) -> EntryAnswer:
        """The merchant's HTTP answer, its signature verified (else not `confirmed`)."""
        ...

    def open_payment(
        self, entry: EntryOrderRecord, answer: EntryAnswer, expires_at: datetime
    ) -> Order:
        """Record the confirmed payment (pending, nothing charged) and open its order."""
        ...


@dataclasses.dataclass(frozen=True, slots=True)
class EntryScanResult:
    entry: EntryOrderRecord
    state: str
    charged: bool
    scan: Any = None  # the order desk's ScanResult once a payment was opened


class EntryDesk:
    """The entry orders of one sandbox app: its store registry and the order desk it pays
    through. `allow_switches` as the order desk's (the test profile)."""

    def __init__(
        self,
        stores: StoreRegistry,
        orders: OrderDesk,
        ledger: SandboxLedger[Any, Any, Any],
        clock: Clock,
        *,
        id_prefix: str,
        protocol: EntryProtocol | None = None,
        allow_switches: bool = False,
        timeout: float = NOTIFY_TIMEOUT,
    ) -> None:
        self.stores = stores
        self._orders = orders
        self._ledger = ledger
        self._clock = clock
        self._prefix = id_prefix
        self._protocol = protocol
        self.allow_switches = allow_switches
        self._timeout = timeout
        self._entries: dict[str, EntryOrderRecord] = {}
        self._http: httpx.AsyncClient | None = None

    def attach(self, protocol: EntryProtocol) -> None:
        self._protocol = protocol

    @property
    def entries(self) -> dict[str, EntryOrderRecord]:
        return dict(self._entries)

    def to_json(self) -> dict[str, Any]:
        return {
            **self.stores.to_json(),
            "entry_orders": {eid: e.to_json() for eid, e in self._entries.items()},
        }

    async def scan(self, store: Store, code: str, options: ScanOptions) -> EntryScanResult:
        """The tourist scans `store`'s entry code (module docstring); `ScanRefused` when
        nothing is sent at all."""
        if options.uses_switches and not self.allow_switches:
            raise ScanRefused(
                403,
                "forbidden",
                "notify, amount_delta, max_attempts and entry_twice are test switches: "
                "run the sandbox in the test profile",
            )
        try:
            outcome = scan_outcome(options.suffix)
        except ValueError as exc:
            raise ScanRefused(400, "invalid_request", str(exc)) from None
        amount = self._typed_amount(store, options.amount)
        if not options.wallet:
            raise ScanRefused(400, "invalid_request", "wallet is required to pay an entry code")
        if outcome is Outcome.UNAVAILABLE:
            raise ScanRefused(503, "unavailable", "the partner is unavailable (0503)")
        entry = EntryOrderRecord(
            entry_order_id=f"{self._prefix}{secrets.token_hex(12)}",
            store=store,
            amount=amount,
            wallet=options.wallet,
            scanned_code=code,
            created_at=self._clock.now(),
        )
        self._entries[entry.entry_order_id] = entry
        protocol = self._require_protocol()
        request = protocol.entry_order(entry)
        for _ in range(2 if options.entry_twice else 1):
            entry.answers.append(await self._ask(entry, request))
        state = self._verdict(entry)
        if state is not None:
            log.info("sandbox entry order %s not charged: %s", entry.entry_order_id, state)
            return EntryScanResult(entry, state, False)
        answer = entry.answers[0]
        assert answer.expires_at is not None and answer.partner_request_id is not None
        try:
            expires_at = self._orders.expiry(answer.expires_at)
        except ValueError:
            return EntryScanResult(entry, "expired", False)
        order = protocol.open_payment(entry, answer, expires_at)
        entry.payment_request_id = answer.partner_request_id
        plain = dataclasses.replace(options, amount=None, wallet=None, entry_twice=False)
        result = await self._orders.scan(order.code, plain)
        charged = result.order.outcome is Outcome.APPROVE
        return EntryScanResult(entry, result.state.value, charged, result)

    def _typed_amount(self, store: Store, text: str | None) -> Money:
        if text is None:
            raise ScanRefused(
                400, "invalid_request", "amount is required to pay an entry code (typed)"
            )
        try:
            amount = from_major_str(text, store.currency.code)
        except FXError as exc:
            raise ScanRefused(400, "invalid_request", f"amount: {exc}") from None
        if amount.value <= 0:
            raise ScanRefused(400, "invalid_request", "amount must be positive")
        return amount

    def _verdict(self, entry: EntryOrderRecord) -> str | None:
        """Why nothing may be charged, or None when the (first) answer is a charge to make."""
        first = entry.answers[0]
        if not first.confirmed:
            return "unanswered" if first.code is None else "refused"
        if any(not a.confirmed or a.charge != first.charge for a in entry.answers[1:]):
            return "inconsistent"
        assert first.partner_request_id is not None
        if self._ledger.get(first.partner_request_id) is not None:
            return "conflict"
        return None

    def _require_protocol(self) -> EntryProtocol:
        if self._protocol is None:
            raise RuntimeError("no EntryProtocol attached to the entry desk")
        return self._protocol

    async def _ask(self, entry: EntryOrderRecord, request: OutboundNotification) -> EntryAnswer:
        if self._http is None:
            self._http = httpx.AsyncClient()
        try:
            response = await self._http.post(
                request.url,
                content=request.body,
                headers=dict(request.headers),
                timeout=self._timeout,
            )
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            return EntryAnswer(http_status=None, signature_valid=None, error=error)
        return self._require_protocol().entry_answer(
            entry, response.status_code, response.headers, response.content
        )

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        await asyncio.sleep(0)
