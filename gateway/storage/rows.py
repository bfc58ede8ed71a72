"""Rows to domain objects and back: the one place that knows which column holds what."""

from __future__ import annotations

import dataclasses
import json
import operator
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import fx
from gateway.core.business_days import parse_cutoff
from gateway.merchants.model import Merchant
from gateway.payments.model import (
    Attempt,
    AttemptStatus,
    CancelStatus,
    Failure,
    Payment,
    PaymentMethod,
    PaymentStatus,
)
from gateway.quotes.model import MarkupRule, MerchantQuote, QuoteUse
from gateway.refunds.model import Refund, RefundKind, RefundStatus
from gateway.storage.open_days import Sides

__all__ = [
    "attempt",
    "attempt_changes",
    "attempt_row",
    "merchant",
    "new_attempt_row",
    "new_payment_row",
    "payment",
    "payment_changes",
    "payment_row",
    "payment_sides",
    "quote",
    "quote_row",
    "refund",
    "refund_changes",
    "refund_row",
    "refund_sides",
]

_EMPTY: Mapping[str, str] = MappingProxyType({})


def merchant(row: Mapping[Any, Any]) -> Merchant:
    return Merchant(
        id=row["id"],
        name=row["name"],
        country=row["country"],
        currency=row["currency"],
        timezone=row["timezone"],
        cutoff=parse_cutoff(row["cutoff"]),
        mdr_bps=row["mdr_bps"],
        fixed_fee=row["fixed_fee"],
        created_at=row["created_at"],
        webhook_url=row["webhook_url"],
        webhook_secret=row["webhook_secret"],
        signing_secret=row["signing_secret"],
        require_signature=bool(row["require_signature"]),
        markups=merchant_markups(row["id"], row["fx_markups"]),
    )


def merchant_markups(merchant_id: str, text: str | None) -> tuple[MarkupRule, ...]:
    """The merchant's own rules from their JSON column (each names the merchant)."""
    if not text:
        return ()
    return tuple(
        MarkupRule(
            bps=rule["bps"],
            merchant=merchant_id,
            wallet=rule.get("wallet"),
            pair=rule.get("pair"),
            origin="merchant",
        )
        for rule in json.loads(text)
    )


def merchant_markups_json(rules: Iterable[MarkupRule]) -> str | None:
    """The JSON column of the merchant's rules (None when there are none)."""
    items = [
        {k: v for k, v in (("bps", r.bps), ("wallet", r.wallet), ("pair", r.pair)) if v is not None}
        for r in rules
    ]
    return json.dumps(items, separators=(",", ":")) if items else None


def payment(row: Mapping[Any, Any]) -> Payment:
    cancel = row["cancel_status"]
    return Payment(
        id=row["id"],
        merchant_id=row["merchant_id"],
        merchant_reference=row["merchant_reference"],
        idempotency_key=row["idempotency_key"],
        status=PaymentStatus(row["status"]),
        amount=fx.Money(row["amount_value"], fx.get_currency(row["currency"])),
        payer_amount=fx.Money(row["payer_value"], fx.get_currency(row["payer_currency"])),
        wallet=row["wallet"],
        partner=row["partner"],
        route_reason=row["route_reason"],
        quote=_quote_use(row),
        code_mask=row["code_mask"],
        code_hash=row["code_hash"],
        store_id=row["store_id"],
        terminal_id=row["terminal_id"],
        metadata=json.loads(row["metadata_json"]) if row["metadata_json"] else _EMPTY,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        failure=_failure(row),
        partner_reference=row["partner_reference"],
        partner_completed_at=row["partner_completed_at"],
        refunded_value=row["refunded_value"],
        reserved_value=row["reserved_value"],
        reserved_payer_value=row["reserved_payer_value"],
        cancel_status=None if cancel is None else CancelStatus(cancel),
        cancel_requested_at=row["cancel_requested_at"],
        merchant_fee=row["merchant_fee"],
        partner_fee=row["partner_fee"],
        fx_revenue=row["fx_revenue"],
        merchant_business_date=row["merchant_business_date"],
        partner_business_date=row["partner_business_date"],
        next_action_at=row["next_action_at"],
        resolve_deadline=row["resolve_deadline"],
        lease_owner=row["lease_owner"],
        lease_expires_at=row["lease_expires_at"],
        method=PaymentMethod(row["payment_method"]),
        qr_code=row["qr_code"],
        qr_expires_at=row["qr_expires_at"],
        version=row["version"],
    )


def payment_row(p: Payment) -> dict[str, Any]:
    """Every column of `p`'s row (plain str for the enums: the raw drivers want exact types)."""
    failure = p.failure
    return {
        "id": p.id,
        "merchant_id": p.merchant_id,
        "merchant_reference": p.merchant_reference,
        "idempotency_key": p.idempotency_key,
        "status": p.status.value,
        "amount_value": p.amount.value,
        "currency": p.amount.currency.code,
        "payer_value": p.payer_amount.value,
        "payer_currency": p.payer_amount.currency.code,
        "wallet": p.wallet,
        "partner": p.partner,
        "route_reason": p.route_reason,
        **_quote_cells(p.quote),
        "code_mask": p.code_mask,
        "code_hash": p.code_hash,
        "store_id": p.store_id,
        "terminal_id": p.terminal_id,
        "metadata_json": _metadata_json(p.metadata),
        "failure_code": None if failure is None else failure.code,
        "failure_message": None if failure is None else failure.message or None,
        "partner_reference": p.partner_reference,
        "partner_completed_at": p.partner_completed_at,
        "created_at": p.created_at,
        "updated_at": p.updated_at,
        "refunded_value": p.refunded_value,
        "reserved_value": p.reserved_value,
        "reserved_payer_value": p.reserved_payer_value,
        "cancel_status": None if p.cancel_status is None else p.cancel_status.value,
        "cancel_requested_at": p.cancel_requested_at,
        "merchant_fee": p.merchant_fee,
        "partner_fee": p.partner_fee,
        "fx_revenue": p.fx_revenue,
        "merchant_business_date": p.merchant_business_date,
        "partner_business_date": p.partner_business_date,
        "next_action_at": p.next_action_at,
        "resolve_deadline": p.resolve_deadline,
        "lease_owner": p.lease_owner,
        "lease_expires_at": p.lease_expires_at,
        "payment_method": p.method.value,
        "qr_code": p.qr_code,
        "qr_expires_at": p.qr_expires_at,
        "version": p.version,
    }


_PAYMENT_FIELDS = tuple(f.name for f in dataclasses.fields(Payment) if f.name != "version")
_payment_fields = operator.attrgetter(*_PAYMENT_FIELDS)


def _quote_use(row: Mapping[Any, Any]) -> QuoteUse | None:
    """The quote terms a payment or refund row keeps (the same columns in both tables)."""
    if row["quote_id"] is None:
        return None
    return QuoteUse(
        id=row["quote_id"],
        rate=row["rate"],
        mid_rate=row["mid_rate"],
        markup_bps=row["markup_bps"],
        rate_source=row["rate_source"],
        rate_set=row["rate_set_id"],
        rate_as_of=row["rate_as_of"],
        expires_at=row["quote_expires_at"],
    )


def _quote_cells(quote: QuoteUse | None) -> dict[str, Any]:
    if quote is None:
        return dict.fromkeys(_QUOTE_COLUMNS)
    return {
        "quote_id": quote.id,
        "rate": quote.rate,
        "mid_rate": quote.mid_rate,
        "markup_bps": quote.markup_bps,
        "rate_source": quote.rate_source,
        "rate_set_id": quote.rate_set,
        "rate_as_of": quote.rate_as_of,
        "quote_expires_at": quote.expires_at,
    }


_QUOTE_COLUMNS = (
    "quote_id",
    "rate",
    "mid_rate",
    "markup_bps",
    "rate_source",
    "rate_set_id",
    "rate_as_of",
    "quote_expires_at",
)


_PAYMENT_COLUMNS: dict[str, Callable[[Payment], dict[str, Any]]] = {
    "status": lambda p: {"status": p.status.value},
    "amount": lambda p: {"amount_value": p.amount.value, "currency": p.amount.currency.code},
    "payer_amount": lambda p: {
        "payer_value": p.payer_amount.value,
        "payer_currency": p.payer_amount.currency.code,
    },
    "quote": lambda p: _quote_cells(p.quote),
    "metadata": lambda p: {"metadata_json": _metadata_json(p.metadata)},
    "failure": lambda p: {
        "failure_code": None if p.failure is None else p.failure.code,
        "failure_message": None if p.failure is None else p.failure.message or None,
    },
    "cancel_status": lambda p: {
        "cancel_status": None if p.cancel_status is None else p.cancel_status.value
    },
    "method": lambda p: {"payment_method": p.method.value},
}
"""The columns of each field not stored as it is under its own name, as `payment_row` maps
them (the others are; `tests/unit/gateway/test_rows.py` checks the two agree)."""


def payment_changes(before: Payment, after: Payment) -> dict[str, Any]:
    """The columns a write must set to take the row from `before` to `after` (the version is
    the write's own business: it always adds one). Only changed fields are mapped to columns:
    this runs for every payment's commit."""
    changes: dict[str, Any] = {}
    old_values, new_values = _payment_fields(before), _payment_fields(after)
    for field, old, new in zip(_PAYMENT_FIELDS, old_values, new_values, strict=True):
        if old is new or old == new:  # `is` first: a copy shares its unchanged values
            continue
        columns = _PAYMENT_COLUMNS.get(field)
        if columns is None:
            changes[field] = new
        else:
            changes.update(columns(after))
    return changes


def _metadata_json(metadata: Mapping[str, str]) -> str | None:
    return json.dumps(dict(metadata), sort_keys=True) if metadata else None


def payment_sides(p: Payment) -> Sides:
    return Sides(p.merchant_id, p.amount.currency.code, p.partner, p.payer_amount.currency.code)


def _failure(row: Mapping[Any, Any]) -> Failure | None:
    code = row["failure_code"]
    return None if code is None else Failure(code, row["failure_message"] or "")


def refund(row: Mapping[Any, Any]) -> Refund:
    return Refund(
        id=row["id"],
        payment_id=row["payment_id"],
        merchant_id=row["merchant_id"],
        kind=RefundKind(row["kind"]),
        status=RefundStatus(row["status"]),
        amount=fx.Money(row["amount_value"], fx.get_currency(row["currency"])),
        payer_amount=fx.Money(row["payer_value"], fx.get_currency(row["payer_currency"])),
        quote=_quote_use(row),
        partner=row["partner"],
        partner_request_id=row["partner_request_id"],
        reason=row["reason"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        failure=_failure(row),
        partner_reference=row["partner_reference"],
        partner_completed_at=row["partner_completed_at"],
        merchant_fee=row["merchant_fee"],
        partner_fee=row["partner_fee"],
        fx_revenue=row["fx_revenue"],
        merchant_business_date=row["merchant_business_date"],
        partner_business_date=row["partner_business_date"],
        refund_calls=row["refund_calls"],
        inquiries=row["inquiries"],
        next_action_at=row["next_action_at"],
        lease_owner=row["lease_owner"],
        lease_expires_at=row["lease_expires_at"],
        version=row["version"],
    )


def refund_row(r: Refund) -> dict[str, Any]:
    """Every column of `r`'s row."""
    failure = r.failure
    return {
        "id": r.id,
        "payment_id": r.payment_id,
        "merchant_id": r.merchant_id,
        "kind": r.kind.value,
        "status": r.status.value,
        "amount_value": r.amount.value,
        "currency": r.amount.currency.code,
        "payer_value": r.payer_amount.value,
        "payer_currency": r.payer_amount.currency.code,
        **_quote_cells(r.quote),
        "partner": r.partner,
        "partner_request_id": r.partner_request_id,
        "reason": r.reason,
        "failure_code": None if failure is None else failure.code,
        "failure_message": None if failure is None else failure.message or None,
        "partner_reference": r.partner_reference,
        "partner_completed_at": r.partner_completed_at,
        "merchant_fee": r.merchant_fee,
        "partner_fee": r.partner_fee,
        "fx_revenue": r.fx_revenue,
        "merchant_business_date": r.merchant_business_date,
        "partner_business_date": r.partner_business_date,
        "refund_calls": r.refund_calls,
        "inquiries": r.inquiries,
        "created_at": r.created_at,
        "updated_at": r.updated_at,
        "next_action_at": r.next_action_at,
        "lease_owner": r.lease_owner,
        "lease_expires_at": r.lease_expires_at,
        "version": r.version,
    }


def refund_changes(before: Refund, after: Refund) -> dict[str, Any]:
    """The columns a write must set to take the row from `before` to `after`."""
    return _changed(refund_row(before), refund_row(after))


def refund_sides(r: Refund) -> Sides:
    return Sides(r.merchant_id, r.amount.currency.code, r.partner, r.payer_amount.currency.code)


def attempt(row: Mapping[Any, Any]) -> Attempt:
    return Attempt(
        id=row["id"],
        payment_id=row["payment_id"],
        seq=row["seq"],
        partner=row["partner"],
        partner_request_id=row["partner_request_id"],
        route_reason=row["route_reason"],
        status=AttemptStatus(row["status"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        delivery=row["delivery"],
        partner_code=row["partner_code"],
        message=row["message"],
        pay_calls=row["pay_calls"],
        inquiries=row["inquiries"],
        cancel_calls=row["cancel_calls"],
    )


def attempt_row(a: Attempt) -> dict[str, Any]:
    """Every column of `a`'s row."""
    return {
        "id": a.id,
        "payment_id": a.payment_id,
        "seq": a.seq,
        "partner": a.partner,
        "partner_request_id": a.partner_request_id,
        "route_reason": a.route_reason,
        "status": a.status.value,
        "delivery": a.delivery,
        "partner_code": a.partner_code,
        "message": a.message,
        "pay_calls": a.pay_calls,
        "inquiries": a.inquiries,
        "cancel_calls": a.cancel_calls,
        "created_at": a.created_at,
        "updated_at": a.updated_at,
    }


def attempt_changes(before: Attempt, after: Attempt) -> dict[str, Any]:
    """The columns a write must set to take the row from `before` to `after`, with its id."""
    return {"id": before.id, **_changed(attempt_row(before), attempt_row(after))}


def quote(row: Mapping[Any, Any]) -> MerchantQuote:
    locked = fx.Quote(
        id=row["id"],
        amount=fx.Money(row["amount_value"], fx.get_currency(row["amount_currency"])),
        payer_amount=fx.Money(row["payer_value"], fx.get_currency(row["payer_currency"])),
        rate=Decimal(row["rate"]),
        mid_rate=Decimal(row["mid_rate"]),
        markup_bps=row["markup_bps"],
        rate_source=row["rate_source"],
        rate_as_of=row["rate_as_of"],
        rate_set=row["rate_set_id"],
        markup_rule=row["markup_rule"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
    )
    return MerchantQuote(locked, row["merchant_id"], row["wallet"])


def quote_row(q: MerchantQuote) -> dict[str, Any]:
    """Every column of `q`'s row (rates as the exact decimals the API shows)."""
    locked = q.quote
    return {
        "id": locked.id,
        "merchant_id": q.merchant_id,
        "wallet": q.wallet,
        "amount_value": locked.amount.value,
        "amount_currency": locked.amount.currency.code,
        "payer_value": locked.payer_amount.value,
        "payer_currency": locked.payer_amount.currency.code,
        "rate": fx.format_rate(locked.rate),
        "mid_rate": fx.format_rate(locked.mid_rate),
        "markup_bps": locked.markup_bps,
        "rate_source": locked.rate_source,
        "rate_as_of": locked.rate_as_of,
        "rate_set_id": locked.rate_set,
        "markup_rule": locked.markup_rule,
        "created_at": locked.created_at,
        "expires_at": locked.expires_at,
    }


# Columns a new row leaves to the table's defaults (NULL, or 0 for the counters) while they
# hold them: fewer parameters per row in the hot path's batched inserts.
_LATER_PAYMENT = frozenset(
    (
        "failure_code",
        "failure_message",
        "partner_reference",
        "partner_completed_at",
        "refunded_value",
        "reserved_value",
        "reserved_payer_value",
        "cancel_status",
        "cancel_requested_at",
        "merchant_fee",
        "partner_fee",
        "fx_revenue",
        "merchant_business_date",
        "partner_business_date",
    )
)
_LATER_ATTEMPT = frozenset(("delivery", "partner_code", "message"))


def _new(row: dict[str, Any], later: frozenset[str]) -> dict[str, Any]:
    """The row without the `later` columns (always the same columns: one shape per batch)."""
    for k in later:  # fewer than the columns kept: dropping them is cheaper than copying
        assert row[k] is None or row[k] == 0, "a new row holds only defaults"
        del row[k]
    return row


def new_payment_row(p: Payment) -> dict[str, Any]:
    """`payment_row` for the insert of a new payment."""
    return _new(payment_row(p), _LATER_PAYMENT)


def new_attempt_row(a: Attempt) -> dict[str, Any]:
    """`attempt_row` for the insert of a new attempt."""
    return _new(attempt_row(a), _LATER_ATTEMPT)


def _changed(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The columns whose values differ (the version is the write's own business)."""
    return {k: v for k, v in new.items() if k != "version" and old[k] != v}
