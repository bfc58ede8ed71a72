"""An aiohttp app that plays an Alipay+ / Antom partner, with API.md's deterministic test codes.

It speaks the real wire protocol: requests must be signed by a merchant key it knows (else a
signed F `ACCESS_DENIED` / `INVALID_SIGNATURE`, nothing charged), and every answer except the
0500 scenario's is signed with the sandbox key. Response header names are lower case
(`client-id`, `response-time`, `signature`) because Ant's Python SDK looks them up that way.

Behaviour by the last four digits of `paymentMethodId` (codes must be 16-24 ASCII digits, else
F `INVALID_CODE`):

    0000 / other  S SUCCESS at once
    0051 0059 0054  F USER_BALANCE_NOT_ENOUGH / RISK_REJECT / EXPIRED_CODE
    0091  charged at once, answer held `hold_seconds`; inquiry finds SUCCESS (every pay is held)
    0092  answer held `hold_seconds`, then U UNKNOWN_EXCEPTION; never recorded (ORDER_NOT_EXIST)
    0093  U PAYMENT_IN_PROCESS; SUCCESS `confirm_seconds` after creation
    0094  U PAYMENT_IN_PROCESS; FAIL ORDER_IS_CLOSED `expire_seconds` after creation
    0500  HTTP 500, unsigned, to the first pay of a request id (nothing recorded); then approves
    0503  F PARTNER_STATUS_ABNORMAL on every pay, nothing recorded or charged

A replay of a pay (same paymentRequestId, amount and code) returns the payment's current state
and never charges twice; other amount or code: F REPEAT_REQ_INCONSISTENT. A pay for a request id
that was cancelled first: F ORDER_STATUS_INVALID.

What follows a payment, by the same last four digits (`adapters._sandbox` has the rules):

    0095  S SUCCESS at once; each refund is made at once but its answer is held `hold_seconds`
          (every refund call, replays too); inquiryRefund finds it SUCCESS
    0096  S SUCCESS at once; every refund is F PROCESS_FAIL, nothing refunded
    0097  S SUCCESS at once; a cancel is F CANCEL_WINDOW_EXCEED (refund instead); refunds work
    other refunds are S SUCCESS within the refundable remainder

`refund` names the payment by `paymentId` (Antom) or `paymentRequestId` (Alipay+ acquirer
flavour); `paymentId` wins when both are given. Declines (all F, and recorded, so a replay
answers the same): REFUND_AMOUNT_EXCEED beyond the refundable remainder, ORDER_NOT_EXIST for an
unknown payment, ORDER_STATUS_INVALID for one that failed or is in process, ORDER_IS_CLOSED for a
cancelled one, PARAM_ILLEGAL for another currency. A replay of a refundRequestId with the same
payment and refundAmount answers the original result; other ones: F REPEAT_REQ_INCONSISTENT.
`inquiryRefund` (by refundRequestId, or refundId which wins) answers S with `refundStatus`
SUCCESS | FAIL (`refundResultCode`), or F ORDER_NOT_EXIST for an unknown refund. A cancel of a
payment with refunds: F ORDER_STATUS_INVALID.

`settlements/file` answers the signed CSV of a settlement date (the package docstring has the
format) from the ledger, by `adapters._sandbox`'s rules (`SandboxSettings.settlement` gives the
partner's zone, cut-off and fees); a date that is not `YYYY-MM-DD` or an unknown currency is F
PARAM_ILLEGAL (signed JSON). `POST /_sandbox/settlement_tamper` (403 unless
`allow_settlement_tamper`) and `GET /_sandbox/settlement/{date}` are the test hooks.

`GET /fx/eurofxref-daily.xml` serves the ECB reference rates dated today (the shipped file's
rates); `POST /_sandbox/fx_feed` (403 unless `allow_settlement_tamper`) makes the feed stale,
slow or broken and `GET /_sandbox/fx_feed` shows its mode and counters
(`adapters._sandbox.ratefeed`).

`payments/inquireExchangeRate` answers the partner's own rates, crossed from that feed and
valid 10 minutes; unknown currencies are F CURRENCY_NOT_SUPPORT. The same switch makes them
jump, fail (U UNKNOWN_EXCEPTION), unreadable or wrongly signed (`bad_signature`) (`rates`).

Merchant-presented order codes (`orders`): a `pay` with `inStorePaymentScenario` OrderCode
answers U PAYMENT_IN_PROCESS with an `orderCodeForm` whose code is a URL on this sandbox
(`<base url>/oc/<token>`), payable until the asked `paymentExpiryTime` (30 minutes at most).
`POST /_sandbox/scan` plays the tourist (`{"code": ..., "suffix": "0000"}`: 0051, 0059, 0054
decline): the payment is charged or declined, then a signed `notifyPayment` goes to the
order's `paymentNotifyUrl`, retried until acknowledged S; scanning a code expired, cancelled,
paid or declined already is refused (409) with nothing charged. The scan's notify switches
(late, twice, bad_signature, never, amount_delta, max_attempts) answer 403 unless
`allow_settlement_tamper`. `GET /_sandbox/orders` lists the orders and their deliveries
(`adapters._sandbox.orders` has the rules).

Entry codes (`entry`): `merchants/registration` registers a store and answers its static
code (EMVCo for TH/THB and PH/PHP stores, else `<base url>/e/<storeId>`), the same one for the
same store id. `POST /_sandbox/scan` of an entry code needs `amount` (typed, major units) and
`wallet`: the sandbox POSTs a signed entry order (`notifyType` USER_INITIATED_PAY) to the
store's `paymentNotifyUrl`, and on a signed S answer charges exactly its `amount` under its
`paymentRequestId` as an order code's payment, then notifies it (`adapters._sandbox.entry`
has the rules; `entry_twice` is a test switch). `GET /_sandbox/stores` lists the stores and
entry orders.

Modules: `settings` (`SandboxSettings`), `exchange` (authentication, parsing and signing),
`payments`, `orders`, `refunds`, `settlement` and `rates` (the handlers), `ledger` (the books);
this one wires them.
"""

from __future__ import annotations

from aiohttp import web

from adapters._sandbox.entry import EntryDesk
from adapters._sandbox.http import ledger_json_handler
from adapters._sandbox.order_routes import install_order_routes
from adapters._sandbox.orders import OrderDesk
from adapters._sandbox.ratefeed import RateFeed, install_rate_feed_routes
from adapters._sandbox.scenarios import CodeBehaviour
from adapters._sandbox.settlement import SettlementDesk, install_settlement_routes
from adapters._sandbox.stores import StoreRegistry
from adapters.alipayplus.sandbox.entry import STORE_ID_PREFIX, AlipayPlusEntry, handle_registration
from adapters.alipayplus.sandbox.exchange import STATE, SandboxState
from adapters.alipayplus.sandbox.ledger import SandboxLedger
from adapters.alipayplus.sandbox.orders import AlipayPlusOrders
from adapters.alipayplus.sandbox.payments import handle_cancel, handle_inquiry, handle_pay
from adapters.alipayplus.sandbox.rates import handle_inquire_exchange_rate
from adapters.alipayplus.sandbox.refunds import handle_inquiry_refund, handle_refund
from adapters.alipayplus.sandbox.settings import SandboxSettings
from adapters.alipayplus.sandbox.settlement import handle_settlement_file
from adapters.alipayplus.signing import load_private_key, load_public_key

__all__ = ["LEDGER", "PATH_PREFIXES", "SandboxSettings", "create_sandbox_app"]

PATH_PREFIXES = ("/ams/api", "/ams/sandbox/api", "/aps/api")

LEDGER = web.AppKey("alipayplus_sandbox_ledger", SandboxLedger)


def create_sandbox_app(settings: SandboxSettings) -> web.Application:
    """The sandbox partner as an aiohttp app; `app[LEDGER]` is its ledger."""
    ledger = SandboxLedger(
        settings.clock,
        confirm_seconds=settings.confirm_seconds,
        expire_seconds=settings.expire_seconds,
    )
    state = SandboxState(
        settings=settings,
        private_key=load_private_key(settings.private_key_pem),
        merchant_keys={
            cid: load_public_key(pem) for cid, pem in settings.merchant_public_keys.items()
        },
        ledger=ledger,
        behaviour=CodeBehaviour(settings.hold_seconds),
        desk=SettlementDesk(settings.settlement, allow_tamper=settings.allow_settlement_tamper),
        orders=OrderDesk(
            ledger,
            settings.clock,
            allow_switches=settings.allow_settlement_tamper,
            schedule=settings.notify_schedule,
            max_attempts=settings.notify_attempts,
        ),
    )
    state.orders.attach(AlipayPlusOrders(state))
    state.entries = EntryDesk(
        StoreRegistry(settings.clock, id_prefix=STORE_ID_PREFIX),
        state.orders,
        ledger,
        settings.clock,
        id_prefix="SBXEO",
        protocol=AlipayPlusEntry(state),
        allow_switches=settings.allow_settlement_tamper,
    )
    app = web.Application()
    app[STATE] = state
    app[LEDGER] = state.ledger
    for prefix in PATH_PREFIXES:
        app.router.add_post(f"{prefix}/v1/settlements/file", handle_settlement_file)
        app.router.add_post(f"{prefix}/v1/payments/pay", handle_pay)
        app.router.add_post(f"{prefix}/v1/payments/inquiryPayment", handle_inquiry)
        app.router.add_post(f"{prefix}/v1/payments/cancel", handle_cancel)
        app.router.add_post(f"{prefix}/v1/payments/refund", handle_refund)
        app.router.add_post(f"{prefix}/v1/payments/inquiryRefund", handle_inquiry_refund)
        app.router.add_post(
            f"{prefix}/v1/payments/inquireExchangeRate", handle_inquire_exchange_rate
        )
        app.router.add_post(f"{prefix}/v1/merchants/registration", handle_registration)
    app.router.add_get("/_sandbox/ledger", ledger_json_handler(LEDGER))
    install_settlement_routes(app, state.desk, LEDGER)
    install_order_routes(app, state.orders, state.entries)
    install_rate_feed_routes(
        app, RateFeed(settings.clock, allow_switches=settings.allow_settlement_tamper)
    )
    state.behaviour.release_on_shutdown(app)
    return app
