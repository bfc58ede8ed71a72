"""What every protocol's sandbox partner shares: the test codes, the books, the settlement file.

A protocol's sandbox (`adapters/<family>/sandbox/`) keeps its own wire handling: parsing and
authenticating requests, signing answers, response shapes and status codes, and how its amounts
are written. This package holds what does not depend on the protocol, one job per module:

- `scenarios`: what a payment code's last four digits make the partner do (`Outcome`), the 0500
  "fail the first call only" memory, holding an answer (0091/0092 pay, 0095 refund) until
  shutdown, and the refund and cancel rules of 0095-0097 (`CodeBehaviour`, `refund_rule`).
- `records`: payment and refund records and ledger entries, generic over the protocol's amount
  object and status enum.
- `ledger`: `SandboxLedger`, the books, evaluated lazily against the clock.
- `terms`: `SettlementTerms`, the partner's business day and fee schedule.
- `settlement`: the partner's settlement file, protocol-neutral (`SettlementRow`,
  `SettlementDesk`), its test-only tampering and the `/_sandbox/settlement...` routes.
- `ratefeed`: the ECB reference-rate feed (`RateFeed`: `eurofxref-daily.xml` dated today, the
  shipped file's rates), its test-only switches (stale, slow, error, garbage, jump,
  bad_signature) and its routes (`/fx/eurofxref-daily.xml`, `/_sandbox/fx_feed`).
- `partnerrates`: the partner's own exchange rates (`fx_rates`), crossed from the feed and
  following its switches (`quote_rates`, `answer_mode`); each protocol words the answer.
- `orders`: merchant-presented order codes (`OrderDesk`): pending orders over the ledger, their
  expiry, the scan rules and the notifier with its retries and test switches, and the routes
  `/oc/{token}`, `POST /_sandbox/scan`, `GET /_sandbox/orders`; each protocol words the order's
  answer and its notification (`OrderProtocol`). `scan` is the tourist's side of a scan (for
  `gateway sandbox scan`).
- `http`: helpers for the test routes (`/_sandbox/ledger`) and request errors.
- `cli`: helpers for the `python -m adapters.<family>.sandbox` command lines.

Only sandboxes import this package: the gateway in production never loads it (the registry of
sandboxes is `adapters.sandboxes`). It holds masked codes and SHA-256 digests, never a raw
wallet code. The names below are re-exported for convenience.
"""

from adapters._sandbox.cli import (
    add_common_arguments,
    add_settlement_arguments,
    add_timing_arguments,
    env,
    run,
    settlement_terms_from_args,
)
from adapters._sandbox.http import (
    json_response,
    ledger_json_handler,
    parse_business_date,
    validation_summary,
)
from adapters._sandbox.ledger import SandboxLedger
from adapters._sandbox.ratefeed import (
    FEED_PATH,
    RATE_FEED,
    FeedMode,
    FeedSwitchRefused,
    RateFeed,
    install_rate_feed_routes,
    shipped_rates,
)
from adapters._sandbox.records import (
    LedgerEntry,
    PaymentRecordBase,
    RefundRecord,
    digest,
    iso_or_none,
)
from adapters._sandbox.scenarios import (
    CancelRefusal,
    CodeBehaviour,
    HasTestCode,
    Outcome,
    Phase,
    RefundDecline,
    RefundRule,
    Scenario,
    cancel_window_closed,
    refund_rule,
)
from adapters._sandbox.settlement import (
    SETTLEMENT,
    SettlementDesk,
    SettlementRow,
    SettlingLedger,
    TamperRefused,
    install_settlement_routes,
)
from adapters._sandbox.terms import SettlementTerms, cutoff_instant

__all__ = [
    "FEED_PATH",
    "RATE_FEED",
    "SETTLEMENT",
    "CancelRefusal",
    "CodeBehaviour",
    "FeedMode",
    "FeedSwitchRefused",
    "HasTestCode",
    "LedgerEntry",
    "Outcome",
    "PaymentRecordBase",
    "Phase",
    "RateFeed",
    "RefundDecline",
    "RefundRecord",
    "RefundRule",
    "SandboxLedger",
    "Scenario",
    "SettlementDesk",
    "SettlementRow",
    "SettlementTerms",
    "SettlingLedger",
    "TamperRefused",
    "add_common_arguments",
    "add_settlement_arguments",
    "add_timing_arguments",
    "cancel_window_closed",
    "cutoff_instant",
    "digest",
    "env",
    "install_rate_feed_routes",
    "install_settlement_routes",
    "iso_or_none",
    "json_response",
    "ledger_json_handler",
    "parse_business_date",
    "refund_rule",
    "run",
    "settlement_terms_from_args",
    "shipped_rates",
    "validation_summary",
]
