"""Partner adapters: one subpackage per partner protocol, each with its sandbox.

Imports `fx` only; knows nothing of the gateway's database or merchant API.
"""

from adapters._base import (
    Adapter,
    AdapterConfigError,
    CancelRequest,
    Delivery,
    FailureCode,
    InquiryRequest,
    MerchantInfo,
    Operation,
    Outcome,
    OutcomeStatus,
    PaymentCode,
    PayRequest,
    mask_code,
)
from adapters._clock import Clock, SystemClock

__all__ = [
    "Adapter",
    "AdapterConfigError",
    "CancelRequest",
    "Clock",
    "Delivery",
    "FailureCode",
    "InquiryRequest",
    "MerchantInfo",
    "Operation",
    "Outcome",
    "OutcomeStatus",
    "PayRequest",
    "PaymentCode",
    "SystemClock",
    "mask_code",
]
