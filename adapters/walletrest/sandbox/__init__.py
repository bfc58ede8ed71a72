"""A simulated WalletRest partner for tests and demos (see `app` for the test codes)."""

from adapters.walletrest.sandbox.app import LEDGER, SandboxSettings, create_sandbox_app
from adapters.walletrest.sandbox.ledger import (
    LedgerEntry,
    PaymentRecord,
    PaymentStatus,
    RefundRecord,
    SandboxLedger,
)

__all__ = [
    "LEDGER",
    "LedgerEntry",
    "PaymentRecord",
    "PaymentStatus",
    "RefundRecord",
    "SandboxLedger",
    "SandboxSettings",
    "create_sandbox_app",
]
