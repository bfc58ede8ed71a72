"""An aiohttp app that plays a WalletRest partner, with API.md's deterministic test codes.

It speaks the real wire protocol: a request needs a known `Authorization: Bearer` key and a fresh,
valid `X-Signature` (else a signed 401 `authentication_error`, nothing charged), every POST an
`Idempotency-Key`; every answer except the 0500 scenario's is signed with the shared secret.

Behaviour of `POST /v1/payments` by the last four digits of `payment_code` (codes must be 16-24
ASCII digits, else 402 `invalid_code`):

    0000 / other  201 succeeded at once
    0051 0059 0054  402 insufficient_funds / risk_rejected / code_expired
    0091  charged at once, answer held `hold_seconds`; GET finds it succeeded (every create held)
    0092  answer held `hold_seconds`, then a signed 500 `api_error`; never recorded (GET: 404)
    0093  202 processing; succeeded `confirm_seconds` after creation
    0094  202 processing; failed `payment_expired` `expire_seconds` after creation
    0500  HTTP 500, unsigned, to the first create of a key (nothing recorded); then approves
    0503  signed 503 `not_accepted` on every create, nothing recorded or charged

What follows a payment, by the same last four digits (`adapters._sandbox` has the rules):

    0095  approves at once; each refund is made at once but its answer is held `hold_seconds`
          (every refund call, replays too); GET /v1/refunds/{id} finds it succeeded
    0096  approves at once; every refund is 402 `refund_declined` / `refund_rejected`
    0097  approves at once; a cancel is 409 `invalid_state` `cancel_window_closed`; refunds work
    other refunds are 201 while within the refundable remainder (402 `refund_declined`
          `amount_exceeds_refundable` beyond it, `payment_not_refundable` for an unknown, failed,
          processing or canceled payment or another currency); declines are recorded too

Idempotency: a create (or refund) with a known key and the same body (compared by SHA-256)
answers the resource's current state with `Idempotent-Replayed: true` and never charges twice;
another body is 409 `idempotency_conflict`. A cancel works in any state (reversing a charge) but
is refused (409 `invalid_state` `payment_has_refunds`) once a refund succeeded; a cancel of an
unknown key leaves a canceled marker, so a create still on its way is answered `canceled` and
never charges.

`GET /v1/settlement_reports/{YYYY-MM-DD}[?currency=CNY]` answers the signed report of that
business day (the package docstring has the format) from the ledger, by `adapters._sandbox`'s
rules (`SandboxSettings.settlement` gives the partner's zone, cut-off and fees); a malformed date
or an unknown currency is 400 `invalid_request`. `POST /_sandbox/settlement_tamper` (403 unless
`allow_settlement_tamper`) and `GET /_sandbox/settlement/{date}` are the test hooks.

`GET /fx/eurofxref-daily.xml` serves the ECB reference rates dated today (the shipped file's
rates); `POST /_sandbox/fx_feed` (403 unless `allow_settlement_tamper`) makes the feed stale,
slow or broken and `GET /_sandbox/fx_feed` shows its mode and counters
(`adapters._sandbox.ratefeed`).

`GET /v1/fx/rates?base=THB&quotes=CNY,KRW` answers the partner's own rates, crossed from that
feed and valid 10 minutes; an unknown currency is a signed 400 `currency_not_supported`. The
same switch makes them jump, fail (signed 500 `api_error`), unreadable or wrongly signed
(`bad_signature`) (`rates`).

`POST /v1/orders` makes an order code (merchant-presented): a pending payment, nothing charged,
whose code `<sandbox base url>/oc/<token>` is payable until min(asked, 30 min) (`orders` has
the answers). `POST /_sandbox/scan` `{"code", "suffix"?, "notify"?, "delay_seconds"?,
"amount_delta"?, "max_attempts"?}` plays the tourist: it charges (0000 / other) or declines
(0051 0059 0054; 0503 refuses with nothing done) the order, then POSTs the signed
`payment.result` to its `notify_url`, retrying until a signed 200 `{"received": true}`; a
code expired, closed (cancelled), paid or declined is refused (409) and charges nothing. The
rules, the test switches (`notify`: late / twice / bad_signature / never, `amount_delta`,
`max_attempts`; 403 unless `allow_settlement_tamper`) and `GET /oc/{token}`, `GET
/_sandbox/orders` are the shared desk's (`adapters._sandbox.orders`).

Modules: `settings` (`SandboxSettings`), `exchange` (authentication, idempotency keys, parsing
and signing), `payments`, `orders`, `refunds`, `settlement` and `rates` (the handlers),
`ledger` (the books); this one wires them.
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
from adapters.walletrest.sandbox.entry import STORE_ID_PREFIX, WalletRestEntry, handle_create_store
from adapters.walletrest.sandbox.exchange import STATE, SandboxState, key_digest
from adapters.walletrest.sandbox.ledger import SandboxLedger
from adapters.walletrest.sandbox.orders import WalletRestOrders, handle_create_order
from adapters.walletrest.sandbox.payments import (
    handle_cancel_payment,
    handle_create_payment,
    handle_get_payment,
)
from adapters.walletrest.sandbox.rates import handle_get_fx_rates
from adapters.walletrest.sandbox.refunds import handle_create_refund, handle_get_refund
from adapters.walletrest.sandbox.settings import SandboxSettings
from adapters.walletrest.sandbox.settlement import handle_get_settlement_report

__all__ = ["LEDGER", "SandboxSettings", "create_sandbox_app"]

LEDGER = web.AppKey("walletrest_sandbox_ledger", SandboxLedger)


def create_sandbox_app(settings: SandboxSettings) -> web.Application:
    """The sandbox partner as an aiohttp app; `app[LEDGER]` is its ledger."""
    ledger = SandboxLedger(
        settings.clock,
        confirm_seconds=settings.confirm_seconds,
        expire_seconds=settings.expire_seconds,
    )
    state = SandboxState(
        settings=settings,
        key_digests=frozenset(key_digest(k) for k in settings.api_keys),
        ledger=ledger,
        behaviour=CodeBehaviour(settings.hold_seconds),
        desk=SettlementDesk(settings.settlement, allow_tamper=settings.allow_settlement_tamper),
        orders=OrderDesk(
            ledger,
            settings.clock,
            allow_switches=settings.allow_settlement_tamper,
            schedule=settings.notify_schedule,
        ),
    )
    state.orders.attach(WalletRestOrders(state))
    state.entries = EntryDesk(
        StoreRegistry(settings.clock, id_prefix=STORE_ID_PREFIX),
        state.orders,
        ledger,
        settings.clock,
        id_prefix="wr_eo_",
        protocol=WalletRestEntry(state),
        allow_switches=settings.allow_settlement_tamper,
    )
    app = web.Application()
    app[STATE] = state
    app[LEDGER] = state.ledger
    app.router.add_post("/v1/payments", handle_create_payment)
    app.router.add_post("/v1/orders", handle_create_order)
    app.router.add_post("/v1/stores", handle_create_store)
    app.router.add_get("/v1/payments/{request_id}", handle_get_payment)
    app.router.add_post("/v1/payments/{request_id}/cancel", handle_cancel_payment)
    app.router.add_post("/v1/refunds", handle_create_refund)
    app.router.add_get("/v1/refunds/{request_id}", handle_get_refund)
    app.router.add_get("/v1/settlement_reports/{date}", handle_get_settlement_report)
    app.router.add_get("/v1/fx/rates", handle_get_fx_rates)
    app.router.add_get("/_sandbox/ledger", ledger_json_handler(LEDGER))
    install_settlement_routes(app, state.desk, LEDGER)
    install_order_routes(app, state.orders, state.entries)
    install_rate_feed_routes(
        app, RateFeed(settings.clock, allow_switches=settings.allow_settlement_tamper)
    )
    state.behaviour.release_on_shutdown(app)
    return app
