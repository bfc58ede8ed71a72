"""Errors raised by `fx`, all under one root so callers can map them to API error codes.

    FXError
    ├── UnsupportedCurrency   not a payment currency (API `unsupported_currency`)
    ├── InvalidAmount         an amount or rate that is not an exact, in-range number
    ├── CurrencyMismatch      arithmetic or a quote across two currencies
    ├── RateUnavailable       no rate, or only one older than the source's maximum age
    └── QuoteExpired          a quote used after its `expires_at`

Misuse that no outside input can cause (a naive datetime, a negative markup or lifetime) raises
the built-in `TypeError` / `ValueError` instead, so it surfaces as a bug and not as a 4xx.
"""

__all__ = [
    "CurrencyMismatch",
    "FXError",
    "InvalidAmount",
    "QuoteExpired",
    "RateUnavailable",
    "UnsupportedCurrency",
]


class FXError(Exception):
    """Root of every error `fx` raises on bad data."""


class UnsupportedCurrency(FXError):
    """The code is not a payment currency; `.code` keeps the offending value for the message."""

    def __init__(self, code: object, message: str | None = None) -> None:
        self.code: str = code if isinstance(code, str) else repr(code)
        super().__init__(message or f"unsupported currency: {self.code!r}")


class InvalidAmount(FXError):
    """An amount or rate that is not an exact number in range (floats and bools included)."""


class CurrencyMismatch(FXError):
    """Two currencies met where one was required; money never converts implicitly."""


class RateUnavailable(FXError):
    """The source has no rate for the pair, or its rate is older than its maximum age."""


class QuoteExpired(FXError):
    """The quote is past its `expires_at` and may no longer be honoured."""
