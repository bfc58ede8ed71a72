"""Domain objects for tests, valid by default: override only what a test is about."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import fx
from gateway.payments.model import Attempt, AttemptStatus, Payment, PaymentStatus

__all__ = ["make_attempt", "make_payment"]

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
