"""A simulated Alipay+ / Antom partner for tests and demos (see `app` for the test codes)."""

from adapters.alipayplus.sandbox.app import (
    LEDGER,
    PATH_PREFIXES,
    SandboxSettings,
    create_sandbox_app,
)
from adapters.alipayplus.sandbox.ledger import (
    LedgerEntry,
    PaymentRecord,
    PaymentStatus,
    SandboxLedger,
)

__all__ = [
    "LEDGER",
    "PATH_PREFIXES",
    "LedgerEntry",
    "PaymentRecord",
    "PaymentStatus",
    "SandboxLedger",
    "SandboxSettings",
    "create_sandbox_app",
]
