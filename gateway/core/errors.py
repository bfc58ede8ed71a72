"""Errors the merchant API shows, one class per documented code (API.md, Errors).

Services raise these; one middleware renders them as `{"error": {"code", "message", "param"}}`
with the class's HTTP status. Anything else is a bug and becomes a 500 without details.

    GatewayError
     ├── InvalidRequest (400)          ├── IdempotencyKeyMissing (400)
     ├── RequestTooLarge (413)         ├── IdempotencyKeyReused (409)
     ├── UnsupportedMediaType (415)    ├── IdempotencyKeyInUse (409)
     ├── InvalidAmount (400)           ├── DuplicateMerchantReference (409)
     ├── UnsupportedCurrency (400)     ├── QuoteExpired (409), QuoteMismatch (409)
     ├── InvalidPaymentCode (400)      ├── NoRoute (422)
     ├── AuthenticationFailed (401)    ├── PartnerUnavailable (503)
     ├── Forbidden (403)               ├── RateUnavailable (503)
     └── NotFound (404)                ├── RefundExceedsPayment (409), PaymentNotRefundable (409)
                                       ├── PaymentNotCancellable (409), CancelWindowExceeded (409)
                                       └── BatchNotClosed (409)
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AuthenticationFailed",
    "BatchNotClosed",
    "CancelWindowExceeded",
    "DuplicateMerchantReference",
    "Forbidden",
    "GatewayError",
    "IdempotencyKeyInUse",
    "IdempotencyKeyMissing",
    "IdempotencyKeyReused",
    "InvalidAmount",
    "InvalidPaymentCode",
    "InvalidRequest",
    "NoRoute",
    "NotFound",
    "PartnerUnavailable",
    "PaymentNotCancellable",
    "PaymentNotRefundable",
    "QuoteExpired",
    "QuoteMismatch",
    "RateUnavailable",
    "RefundExceedsPayment",
    "RequestTooLarge",
    "UnsupportedCurrency",
    "UnsupportedMediaType",
    "WebhookNotConfigured",
]


class GatewayError(Exception):
    code: ClassVar[str] = "internal_error"
    status: ClassVar[int] = 500
    retry_after: ClassVar[int | None] = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        retry_after: int | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.extra = extra
        if retry_after is not None:
            self.retry_after = retry_after  # type: ignore[misc]

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.param is not None:
            body["param"] = self.param
        body.update(self.extra)
        return {"error": body}


class InvalidRequest(GatewayError):
    code, status = "invalid_request", 400


class RequestTooLarge(GatewayError):
    code, status = "request_too_large", 413


class UnsupportedMediaType(GatewayError):
    code, status = "unsupported_media_type", 415


class InvalidAmount(GatewayError):
    code, status = "invalid_amount", 400


class UnsupportedCurrency(GatewayError):
    code, status = "unsupported_currency", 400


class InvalidPaymentCode(GatewayError):
    code, status = "invalid_payment_code", 400


class AuthenticationFailed(GatewayError):
    code, status = "authentication_failed", 401


class Forbidden(GatewayError):
    code, status = "forbidden", 403


class NotFound(GatewayError):
    code, status = "not_found", 404


class IdempotencyKeyMissing(GatewayError):
    code, status = "idempotency_key_missing", 400


class IdempotencyKeyReused(GatewayError):
    code, status = "idempotency_key_reused", 409


class IdempotencyKeyInUse(GatewayError):
    code, status = "idempotency_key_in_use", 409


class DuplicateMerchantReference(GatewayError):
    code, status = "duplicate_merchant_reference", 409


class QuoteExpired(GatewayError):
    code, status = "quote_expired", 409


class QuoteMismatch(GatewayError):
    code, status = "quote_mismatch", 409


class NoRoute(GatewayError):
    code, status = "no_route", 422


class PartnerUnavailable(GatewayError):
    code, status, retry_after = "partner_unavailable", 503, 5


class RateUnavailable(GatewayError):
    code, status, retry_after = "rate_unavailable", 503, 60


class RefundExceedsPayment(GatewayError):
    code, status = "refund_exceeds_payment", 409


class PaymentNotRefundable(GatewayError):
    code, status = "payment_not_refundable", 409


class PaymentNotCancellable(GatewayError):
    code, status = "payment_not_cancellable", 409


class CancelWindowExceeded(GatewayError):
    code, status = "cancel_window_exceeded", 409


class WebhookNotConfigured(GatewayError):
    """`POST /v1/events/{id}/redeliver` for a merchant without a webhook URL."""

    code, status = "webhook_not_configured", 409


class BatchNotClosed(GatewayError):
    """`GET /v1/settlements/{id}/file` of a batch that is still open."""

    code, status = "batch_not_closed", 409
