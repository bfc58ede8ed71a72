"""The protocol-neutral books of a sandbox partner (`SandboxLedger`).

Records by request id whose state is evaluated lazily against the clock (0093 confirms, 0094
expires the first time anyone looks after the deadline, with the charge dated at the deadline),
refunds by refund request id, and the list of charge / reversal / refund entries. It is generic
over the protocol's amount object (kept as sent, rendered by the protocol in `to_json`, read as
`fx.Money` through `_money`) and its status enum (mapped from the protocol-neutral `Phase`).

Cancels reverse a charge once and are refused for a payment with refunds or an 0097 code;
refunds follow the test codes of `scenarios` and the refundable remainder, and are recorded
whether made or declined. A refund request id seen before answers its original result when the
parameters are the same (the protocol's fingerprint, kept as `RefundRecord.fingerprint` and
compared by the protocol's handler), and the protocol's "inconsistent" answer otherwise.
`settlement_rows` is what the partner settles for one of its business days.

Merchant-presented order codes (`adapters._sandbox.orders`) are records of `Scenario.ORDER`:
in process (nothing charged) until the tourist scans the code (`settle_order`: charged, or
declined by the scan's test code) or until their `expires_at` passes unpaid (then failed, as an
0094 expiry, the first time anyone looks). A cancel closes a pending one like any payment.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any, ClassVar, Generic, TypeVar

from adapters._base import implied_rate
from adapters._clock import Clock
from adapters._sandbox.records import LedgerEntry, PaymentRecordBase, RefundRecord
from adapters._sandbox.scenarios import (
    CancelRefusal,
    Outcome,
    Phase,
    RefundDecline,
    RefundRule,
    Scenario,
    cancel_window_closed,
    refund_rule,
)
from adapters._sandbox.settlement import SettlementRow
from adapters._sandbox.terms import SettlementTerms
from fx import FXError, Money

__all__ = ["SandboxLedger"]

A = TypeVar("A")  # the protocol's amount object, as it came on the wire
S = TypeVar("S", bound=enum.Enum)  # the protocol's payment status enum
R = TypeVar("R", bound=PaymentRecordBase[Any, Any])  # the protocol's payment record


class SandboxLedger(Generic[R, A, S]):
    """Payments by request id plus the list of money movements, evaluated at the clock's now.

    A protocol subclass sets `STATUS` (its status for each `Phase`) and `REFUND_CODES` (its
    decline code for each `RefundDecline`), renders records and amounts in `to_json`, reads its
    amounts as `fx.Money` (`_money`), names its refunds (`_new_refund_id`), and says what an
    0093 confirmation or 0094 expiry writes in its own fields.
    """

    STATUS: ClassVar[Mapping[Phase, Any]]
    REFUND_CODES: ClassVar[Mapping[RefundDecline, str]]  # the protocol's code for each decline
    CODE_FIELD: ClassVar[str] = "code"  # the key of a refund's decline code in `to_json`

    def __init__(self, clock: Clock, *, confirm_seconds: float, expire_seconds: float) -> None:
        self._clock = clock
        self._confirm = timedelta(seconds=confirm_seconds)
        self._expire = timedelta(seconds=expire_seconds)
        self._payments: dict[str, R] = {}
        self._by_payment_id: dict[str, str] = {}
        self._entries: list[LedgerEntry[A]] = []
        self._refunds: dict[str, RefundRecord[A, S]] = {}
        self._by_refund_id: dict[str, str] = {}

    # --- protocol hooks --------------------------------------------------------------------------

    def _status(self, phase: Phase) -> S:
        status: S = self.STATUS[phase]
        return status

    def _record_json(self, record: R) -> dict[str, Any]:
        raise NotImplementedError

    def _amount_json(self, amount: A) -> Any:
        raise NotImplementedError

    def _money(self, amount: A) -> Money:
        """The amount as `fx.Money` (the protocol has checked it is readable before)."""
        raise NotImplementedError

    def _new_refund_id(self) -> str:
        raise NotImplementedError

    def _confirmed(self, record: R) -> None:
        """An 0093 payment just succeeded (before it is charged)."""

    def _expired(self, record: R) -> None:
        """An 0094 payment (or an order code never paid) just failed."""

    def _declined(self, record: R, outcome: Outcome) -> None:
        """A scanned order code was just declined by the scan's test code (`outcome`)."""

    def _refund_json(self, record: RefundRecord[A, S]) -> dict[str, Any]:
        return {
            "refund_request_id": record.refund_request_id,
            "refund_id": record.refund_id,
            "payment_request_id": record.payment_request_id,
            "payment_id": record.payment_id,
            "amount": self._amount_json(record.amount),
            "amount_minor": self._money(record.amount).value,
            "status": record.status.value,
            self.CODE_FIELD: record.code,
            "calls": record.calls,
            "created_at": record.created_at.isoformat(),
        }

    # --- reading (always evaluated at the clock's now) ------------------------------------------

    @property
    def payments(self) -> dict[str, R]:
        self.refresh()
        return dict(self._payments)

    @property
    def entries(self) -> list[LedgerEntry[A]]:
        self.refresh()
        return list(self._entries)

    @property
    def refunds(self) -> dict[str, RefundRecord[A, S]]:
        return dict(self._refunds)

    def get_refund(self, refund_request_id: str) -> RefundRecord[A, S] | None:
        return self._refunds.get(refund_request_id)

    def find_refund(
        self, *, refund_request_id: str | None, refund_id: str | None
    ) -> RefundRecord[A, S] | None:
        """By the partner's refund id when given (it takes precedence), else by request id."""
        if refund_id:
            request_id = self._by_refund_id.get(refund_id)
            return self._refunds.get(request_id) if request_id is not None else None
        return self._refunds.get(refund_request_id) if refund_request_id else None

    def phase(self, record: R) -> Phase:
        """The record's state, whatever the protocol calls it (evaluated at the clock's now)."""
        self._evaluate(record, self._clock.now())
        for phase, status in self.STATUS.items():
            if record.status is status:
                return phase
        raise ValueError(f"status {record.status!r} is not one of STATUS")

    def get(self, payment_request_id: str) -> R | None:
        record = self._payments.get(payment_request_id)
        if record is not None:
            self._evaluate(record, self._clock.now())
        return record

    def find(self, *, payment_request_id: str | None, payment_id: str | None) -> R | None:
        """By payment id when given (it takes precedence), else by request id."""
        if payment_id:
            request_id = self._by_payment_id.get(payment_id)
            return self.get(request_id) if request_id is not None else None
        return self.get(payment_request_id) if payment_request_id else None

    def _count(self, kind: str, payment_request_id: str) -> int:
        return sum(
            1 for e in self.entries if e.kind == kind and e.payment_request_id == payment_request_id
        )

    def charges_for(self, payment_request_id: str) -> int:
        """How many times this request id was charged (0 or 1 when the sandbox is right)."""
        return self._count("charge", payment_request_id)

    def reversals_for(self, payment_request_id: str) -> int:
        return self._count("reversal", payment_request_id)

    def refunds_for(self, payment_request_id: str) -> int:
        """How many refunds of this payment were made (declined ones are not counted)."""
        return self._count("refund", payment_request_id)

    def refunded_for(self, payment_request_id: str) -> int:
        """Minor units refunded so far for this payment (the sum of its refund entries)."""
        return sum(
            self._money(e.amount).value
            for e in self.entries
            if e.kind == "refund" and e.payment_request_id == payment_request_id
        )

    def to_json(self) -> dict[str, Any]:
        """`payments`, `refunds` (by refund request id) and `entries` (every money movement;
        a refund entry names its `refund_request_id`; `amount_minor` is an int to sum)."""
        self.refresh()
        return {
            "payments": {k: self._record_json(r) for k, r in self._payments.items()},
            "refunds": {k: self._refund_json(r) for k, r in self._refunds.items()},
            "entries": [e.to_json(self._amount_json, self._minor) for e in self._entries],
        }

    def _minor(self, amount: A) -> int:
        return self._money(amount).value

    def refresh(self) -> None:
        now = self._clock.now()
        for record in self._payments.values():
            self._evaluate(record, now)

    # --- writing ---------------------------------------------------------------------------------

    def _add(self, record: R) -> R:
        """Keep a new record; a success is charged at once (dated at its creation)."""
        self._payments[record.payment_request_id] = record
        self._by_payment_id[record.payment_id] = record.payment_request_id
        if record.status is self._status(Phase.SUCCEEDED):
            self._charge(record, record.created_at)
        return record

    def settle_order(self, record: R, outcome: Outcome) -> None:
        """The tourist scanned a pending order code (`Scenario.ORDER`, in process): APPROVE
        charges it now, any other outcome declines it (`_declined` writes the protocol's
        code). `ValueError` when the record is not a pending order."""
        now = self._clock.now()
        self._evaluate(record, now)
        if record.scenario is not Scenario.ORDER:
            raise ValueError("not an order code's payment")
        if record.status is not self._status(Phase.PROCESSING):
            raise ValueError("the order is no longer pending")
        if outcome is Outcome.APPROVE:
            record.status = self._status(Phase.SUCCEEDED)
            self._confirmed(record)
            self._charge(record, now)
            return
        record.status = self._status(Phase.FAILED)
        self._declined(record, outcome)
        record.completed_at = now

    def cancel(self, record: R) -> CancelRefusal | None:
        """Cancel whatever the state and reverse a charge once (idempotent: None), unless the
        payment has refunds or its cancel window has closed (0097): then nothing changes and
        the refusal says why."""
        now = self._clock.now()
        self._evaluate(record, now)
        canceled = self._status(Phase.CANCELED)
        if record.status is canceled:
            return None
        if cancel_window_closed(record):
            return CancelRefusal.WINDOW_CLOSED
        if record.refunded_minor > 0:
            return CancelRefusal.HAS_REFUNDS
        if record.charged and not record.reversed and record.amount is not None:
            record.reversed = True
            self._entries.append(
                LedgerEntry(
                    "reversal", record.payment_request_id, record.payment_id, record.amount, now
                )
            )
        record.status = canceled
        record.canceled_at = now
        return None

    def refund(
        self,
        *,
        refund_request_id: str,
        payment: R | None,
        payment_request_id: str,
        amount: A,
        fingerprint: str,
        merchant_amount: A | None = None,
    ) -> RefundRecord[A, S]:
        """A new refund request id for `payment` (None: no such payment, `payment_request_id`
        being what the request named): made at once, or declined; either way recorded, so a
        replay answers the same. A refund made returns money: a `refund` entry.
        `merchant_amount` is the merchant-currency amount the request carried, if any."""
        now = self._clock.now()
        if payment is not None:
            self._evaluate(payment, now)
        money = self._money(amount)
        decline = self._refund_decline(payment, money)
        record: RefundRecord[A, S] = RefundRecord(
            refund_request_id=refund_request_id,
            refund_id=self._new_refund_id(),
            payment_request_id=payment.payment_request_id if payment else payment_request_id,
            payment_id=payment.payment_id if payment else None,
            amount=amount,
            fingerprint=fingerprint,
            status=self._status(Phase.FAILED if decline else Phase.SUCCEEDED),
            decline=decline,
            code=self.REFUND_CODES[decline] if decline else None,
            created_at=now,
            completed_at=now,
            merchant_amount=merchant_amount,
        )
        self._refunds[refund_request_id] = record
        self._by_refund_id[record.refund_id] = refund_request_id
        if decline is None and payment is not None:
            payment.refunded_minor += money.value
            self._entries.append(
                LedgerEntry(
                    "refund",
                    payment.payment_request_id,
                    payment.payment_id,
                    amount,
                    now,
                    refund_request_id=refund_request_id,
                )
            )
        return record

    def _refund_decline(self, payment: R | None, money: Money) -> RefundDecline | None:
        """Why `money` cannot be refunded from `payment`, or None when it can."""
        if payment is None:
            return RefundDecline.NO_PAYMENT
        if payment.status is self._status(Phase.CANCELED):
            return RefundDecline.CANCELED
        if payment.status is not self._status(Phase.SUCCEEDED) or payment.amount is None:
            return RefundDecline.NOT_SUCCEEDED
        if refund_rule(payment) is RefundRule.DECLINE:
            return RefundDecline.DECLINED
        charged = self._money(payment.amount)
        if charged.currency != money.currency:
            return RefundDecline.CURRENCY
        if money.value <= 0 or payment.refunded_minor + money.value > charged.value:
            return RefundDecline.EXCEEDS
        return None

    def _charge(self, record: R, at: datetime) -> None:
        if record.charged or record.amount is None:
            return
        record.charged = True
        record.completed_at = at
        self._entries.append(
            LedgerEntry("charge", record.payment_request_id, record.payment_id, record.amount, at)
        )

    def _evaluate(self, record: R, now: datetime) -> None:
        if record.status is not self._status(Phase.PROCESSING):
            return
        if record.scenario is Scenario.CONFIRM and now >= record.created_at + self._confirm:
            record.status = self._status(Phase.SUCCEEDED)
            self._confirmed(record)
            self._charge(record, record.created_at + self._confirm)
        elif record.scenario is Scenario.EXPIRE and now >= record.created_at + self._expire:
            record.status = self._status(Phase.FAILED)
            self._expired(record)
            record.completed_at = record.created_at + self._expire
        elif (
            record.scenario is Scenario.ORDER
            and record.expires_at is not None
            and now >= record.expires_at
        ):
            record.status = self._status(Phase.FAILED)
            self._expired(record)
            record.completed_at = record.expires_at

    # --- settlement ------------------------------------------------------------------------------

    def _merchant_money(self, amount: A | None) -> Money | None:
        """A carried merchant amount as `fx.Money`, or None when absent, unreadable or not
        positive (a protocol may not have checked it)."""
        if amount is None:
            return None
        try:
            money = self._money(amount)
        except (FXError, ValueError):
            return None
        return money if money.value > 0 else None

    def settlement_rows(self, terms: SettlementTerms, business_date: date) -> list[SettlementRow]:
        """What the partner settles for `business_date`: charges of payments not reversed and
        refunds made, each dated by its own time (`settlement`'s docstring). Untampered."""
        rows: list[SettlementRow] = []
        given: dict[str, tuple[int, int]] = {}  # per payment: refunded, fee given back, so far
        for entry in self.entries:
            if entry.kind == "refund" and entry.refund_request_id is not None:
                refunded, returned = given.get(entry.payment_request_id, (0, 0))
                fee = terms.refund_fee(self._money(entry.amount), refunded, returned)
                given[entry.payment_request_id] = (
                    refunded + self._money(entry.amount).value,
                    returned + fee.value,
                )
            if entry.kind == "reversal" or terms.business_date(entry.at) != business_date:
                continue
            amount = self._money(entry.amount)
            if entry.kind == "charge":
                payment = self._payments[entry.payment_request_id]
                if payment.reversed:
                    continue
                merchant = self._merchant_money(payment.merchant_amount)
                rows.append(
                    SettlementRow(
                        record_type="payment",
                        request_id=entry.payment_request_id,
                        reference=entry.payment_id,
                        payment_request_id=entry.payment_request_id,
                        payment_reference=entry.payment_id,
                        amount=amount,
                        fee=terms.payment_fee(amount),
                        merchant_amount=merchant,
                        fx_rate=implied_rate(amount, merchant) if merchant else None,
                        completed_at=entry.at,
                    )
                )
            elif entry.kind == "refund" and entry.refund_request_id is not None:
                refund = self._refunds[entry.refund_request_id]
                merchant = self._merchant_money(refund.merchant_amount)
                rows.append(
                    SettlementRow(
                        record_type="refund",
                        request_id=refund.refund_request_id,
                        reference=refund.refund_id,
                        payment_request_id=entry.payment_request_id,
                        payment_reference=entry.payment_id,
                        amount=amount,
                        fee=fee,
                        merchant_amount=merchant,
                        fx_rate=implied_rate(amount, merchant) if merchant else None,
                        completed_at=entry.at,
                    )
                )
        return rows
