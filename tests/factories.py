"""Domain objects for tests, valid by default: override only what a test is about."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import fx
from gateway.payments.model import Attempt, AttemptStatus, Payment, PaymentStatus
from gateway.quotes.model import MerchantQuote

__all__ = ["make_attempt", "make_payment", "make_quote"]

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def make_payment(**overrides: Any) -> Payment:
    """A processing THB 100.00 payment of `mer_1` through `alipayplus-th`, in THB."""
    fields: dict[str, Any] = {
        "id": "pay_1",
        "merchant_id": "mer_1",
        "merchant_reference": "R1",
        "idempotency_key": "K1",
        "status": PaymentStatus.PROCESSING,
        "amount": fx.Money(10000, fx.get_currency("THB")),
        "payer_amount": fx.Money(10000, fx.get_currency("THB")),
        "wallet": "alipay_cn",
        "partner": "alipayplus-th",
        "route_reason": "default",
        "quote": None,
        "code_mask": "2800******0000",
        "code_hash": "0" * 64,
        "store_id": None,
        "terminal_id": None,
        "metadata": {},
        "created_at": NOW,
        "updated_at": NOW,
    }
    return Payment(**(fields | overrides))


def make_attempt(**overrides: Any) -> Attempt:
    """The first, pending attempt of `pay_1` at `alipayplus-th`."""
    fields: dict[str, Any] = {
        "id": "att_1",
        "payment_id": "pay_1",
        "seq": 1,
        "partner": "alipayplus-th",
        "partner_request_id": "att_1",
        "route_reason": "default",
        "status": AttemptStatus.PENDING,
        "created_at": NOW,
        "updated_at": NOW,
    }
    return Attempt(**(fields | overrides))


def make_quote(value: int = 125050, mid: str = "0.1832", markup_bps: int = 150) -> MerchantQuote:
    """`mer_1`'s quote of THB `value` (minor units) in CNY for `alipay_cn`, made at `NOW`."""
    thb, cny = fx.get_currency("THB"), fx.get_currency("CNY")
    quote = fx.make_quote(
        id="qt_1",
        amount=fx.Money(value, thb),
        payer_currency=cny,
        mid=fx.MidRate(thb, cny, Decimal(mid), NOW, "ecb"),
        markup_bps=markup_bps,
        created_at=NOW,
        lifetime=timedelta(minutes=5),
    )
    return MerchantQuote(quote, "mer_1", "alipay_cn")
