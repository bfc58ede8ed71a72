"""Domain <-> wire conversions for WalletRest: pure functions, no I/O, no clock.

The client hands each function an answer whose signature it has already verified: the HTTP
status and the raw body. The function parses it and decides, so every rule below is testable
with recorded JSON.

Amount mapping: `amount` is the **payer amount** (the wallet's currency, exactly what the tourist
is charged, already quoted by the gateway); `merchant_amount` is what the tourist bought, in the
merchant's currency, for the partner's records. A success whose echoed `amount` differs (value or
currency), or whose `request_id` is not ours, is not trusted: UNKNOWN, maybe sent.

Decisions by status: 200/201 carry the resource in whatever state it is; 202 must say
`processing`; 4xx/5xx carry `{"error": {...}}`, read through `codes.classify_error`. The wallet
code is sent only as `payment_code`; partner messages are scrubbed of it in case one echoes it.

Settlement reports (`settlement_file`): a verified 200 answer is read strictly
(`transforms.settlement` says what makes a report unreadable). Exchange rates (`rates_path`,
`partner_rates`) likewise (`transforms.rates`). Order codes (`order_code_outcome`: a code to
display, or the Outcome when there is none) in `transforms.orders`; the partner's notifications,
verified before they are read, and our signed acknowledgments in `transforms.notifications`.

Pure functions, no I/O, no clock (the time is passed in), one job per module: `bodies` (domain
requests -> request bodies and paths), `answers` (verified answers -> `Outcome`s), `orders`
(order codes), `notifications` (the partner's notifications and our answers to them),
`settlement` (settlement reports) and `rates` (exchange rates). This package re-exports them
all.
"""

from adapters._base import parse_time
from adapters.walletrest.transforms.answers import (
    cancel_outcome,
    inquiry_outcome,
    pay_outcome,
    refund_inquiry_outcome,
    refund_outcome,
)
from adapters.walletrest.transforms.bodies import (
    DEFAULT_TERMINAL_ID,
    ORDERS_PATH,
    create_order_body,
    create_payment_body,
    create_refund_body,
    format_time,
    settlement_report_path,
)
from adapters.walletrest.transforms.entry import (
    ENTRY_ORDER_CREATED,
    STORES_PATH,
    entry_answer,
    entry_code_outcome,
    entry_order,
    registration_body,
)
from adapters.walletrest.transforms.notifications import (
    PAYMENT_RESULT,
    acknowledgment,
    notification_headers,
    read_notification,
)
from adapters.walletrest.transforms.orders import order_code_outcome
from adapters.walletrest.transforms.rates import partner_rates, rates_path
from adapters.walletrest.transforms.settlement import settlement_file

__all__ = [
    "DEFAULT_TERMINAL_ID",
    "ENTRY_ORDER_CREATED",
    "ORDERS_PATH",
    "PAYMENT_RESULT",
    "STORES_PATH",
    "acknowledgment",
    "cancel_outcome",
    "create_order_body",
    "create_payment_body",
    "create_refund_body",
    "entry_answer",
    "entry_code_outcome",
    "entry_order",
    "format_time",
    "inquiry_outcome",
    "notification_headers",
    "order_code_outcome",
    "parse_time",
    "partner_rates",
    "pay_outcome",
    "rates_path",
    "read_notification",
    "refund_inquiry_outcome",
    "refund_outcome",
    "registration_body",
    "settlement_file",
    "settlement_report_path",
]
