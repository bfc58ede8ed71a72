"""Domain <-> wire conversions for Alipay+ / Antom: pure functions, no I/O, no clock.

Amount mapping (our choice, documented here because it is the one that matters):

- `paymentAmount` = the **payer amount**, in the wallet's currency: exactly what the tourist is
  charged. The gateway has already quoted the FX rate and shown the tourist that amount, so the
  partner must charge it as is, not re-convert. The partner echoes `paymentAmount`; a success
  whose echo differs (value or currency) is not trusted (UNKNOWN, maybe sent, then inquired and
  cancelled by the gateway).
- `order.orderAmount` = the merchant's amount in the merchant's currency: what the tourist
  bought, for the partner's records, receipts and risk checks.

Amounts travel as strings of minor units (`fx.to_minor_str` / the strict `fx.from_minor_str`).
`paymentRequestId` is our deterministic partner request id, so a retry is the same payment.
The wallet code goes only into `paymentMethod.paymentMethodId`; partner messages are scrubbed of
it in case one echoes it.

Refunds: `refundRequestId` is the refund's deterministic partner request id (a retry is the same
refund) and `refundAmount` the **payer amount** returned, in the payment's (wallet) currency;
the merchant-currency `amount` has no field in this protocol. The payment is named by
`paymentId` = `RefundRequest.payment_partner_reference` (the `paymentId` the partner gave the
payment, which Antom requires). When the caller does not know it, the body names the payment by
`paymentRequestId` instead (our request id of the payment), which the Alipay+ acquirer flavour
and our sandbox accept; an Antom partner refuses that with a signed F `PARAM_ILLEGAL`, a final
FAILED with nothing refunded, never a guess. A refund's decline is always `partner_declined`.

Settlement files (`settlement_file`): the CSV of the Alipay+ package docstring, read strictly
(`transforms.settlement` says what makes a file unreadable).

Exchange rates (`exchange_rate_body`, `partner_rates`): `inquireExchangeRate`, one currency
pair per quote asked for, its answer read strictly, prices from their JSON text without float
(`transforms.rates` says what is refused).

Merchant-presented order codes (`order_code_body`, `order_code_result`): the `pay` with
`inStorePaymentScenario` OrderCode, no wallet code and no terminal, the code's expiry asked in
`paymentExpiryTime` and its result notified to `paymentNotifyUrl`; the answer's
`orderCodeForm` gives the code (`transforms.orders` says what is trusted). The partner's
`notifyPayment` body and our acknowledgment: `payment_notification`, `acknowledgment_body`,
`signed_time` (`transforms.notifications`).

Entry codes (`registration_body`, `entry_code_result`, `entry_order`, `entry_answer_body`):
the store's registration and its entry code, the partner's entry order (a `userInitiatedPay`
on the notify URL) and our signed answer to it (`transforms.entry`).

Pure functions, no I/O, no clock, one job per module: `values` (amounts and times as the
protocol writes them), `bodies` (domain requests -> request bodies), `answers` (verified answers
-> `Outcome`s), `orders` (order code answers), `notifications` (the partner's notifications and
our acknowledgments), `settlement` (settlement files) and `rates` (exchange rates). This package
re-exports them all.
"""

from adapters._base import parse_time
from adapters.alipayplus.transforms.answers import (
    cancel_outcome,
    inquiry_outcome,
    pay_outcome,
    refund_inquiry_outcome,
    refund_outcome,
)
from adapters.alipayplus.transforms.bodies import (
    DEFAULT_TERMINAL_ID,
    IN_STORE_PAYMENT,
    ORDER_CODE_SCENARIO,
    PAYMENT_CODE_SCENARIO,
    WALLET_METHOD,
    cancel_body,
    inquiry_body,
    order_code_body,
    pay_body,
    refund_body,
    refund_inquiry_body,
    settlement_file_body,
)
from adapters.alipayplus.transforms.entry import (
    REFUSAL_CODES,
    USER_INITIATED_PAY,
    entry_answer_body,
    entry_code_result,
    entry_order,
    is_entry_order,
    registration_body,
)
from adapters.alipayplus.transforms.notifications import (
    acknowledgment_body,
    payment_notification,
    read_strict_json,
    signed_time,
)
from adapters.alipayplus.transforms.orders import order_code_result
from adapters.alipayplus.transforms.rates import exchange_rate_body, partner_rates, read_json
from adapters.alipayplus.transforms.settlement import settlement_file
from adapters.alipayplus.transforms.values import amount_from_wire, amount_to_wire, format_time

__all__ = [
    "DEFAULT_TERMINAL_ID",
    "IN_STORE_PAYMENT",
    "ORDER_CODE_SCENARIO",
    "PAYMENT_CODE_SCENARIO",
    "REFUSAL_CODES",
    "USER_INITIATED_PAY",
    "WALLET_METHOD",
    "acknowledgment_body",
    "amount_from_wire",
    "amount_to_wire",
    "cancel_body",
    "cancel_outcome",
    "entry_answer_body",
    "entry_code_result",
    "entry_order",
    "exchange_rate_body",
    "format_time",
    "inquiry_body",
    "inquiry_outcome",
    "is_entry_order",
    "order_code_body",
    "order_code_result",
    "parse_time",
    "partner_rates",
    "pay_body",
    "pay_outcome",
    "payment_notification",
    "read_json",
    "read_strict_json",
    "refund_body",
    "refund_inquiry_body",
    "refund_inquiry_outcome",
    "refund_outcome",
    "registration_body",
    "settlement_file",
    "settlement_file_body",
    "signed_time",
]
