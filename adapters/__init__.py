"""Partner adapters: one subpackage per partner protocol, each with its sandbox.

Imports `fx` only; knows nothing of the gateway's database or merchant API. Importing it loads
no sandbox: those (and `SettlementTerms`, which shapes a sandbox's settlement file) are found
through `adapters.sandboxes`, for tests and demos only.
"""

from adapters._base import (
    DEFAULT_TIMEOUTS,
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
    PartnerRates,
    PaymentCode,
    PayRequest,
    RatesRequest,
    RatesUnavailable,
    RefundInquiryRequest,
    RefundRequest,
    SettlementFile,
    SettlementFileRequest,
    SettlementFileUnavailable,
    SettlementLine,
    SettlementRecordType,
    implied_rate,
    mask_code,
)
from adapters._clock import Clock, SystemClock
from adapters._registry import PROTOCOLS, ProtocolSpec
from adapters._transport import classify_transport_error, new_http_client

__all__ = [
    "DEFAULT_TIMEOUTS",
    "PROTOCOLS",
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
    "PartnerRates",
    "PayRequest",
    "PaymentCode",
    "ProtocolSpec",
    "RatesRequest",
    "RatesUnavailable",
    "RefundInquiryRequest",
    "RefundRequest",
    "SettlementFile",
    "SettlementFileRequest",
    "SettlementFileUnavailable",
    "SettlementLine",
    "SettlementRecordType",
    "SystemClock",
    "classify_transport_error",
    "implied_rate",
    "mask_code",
    "new_http_client",
]
