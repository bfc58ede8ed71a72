"""Settlement batches and their files in the OpenAPI document (the batch's schema is the wire
type's)."""

from typing import Final

from gateway.api.openapi.errors import error_responses
from gateway.api.openapi.parts import (
    JSON,
    headers,
    json_response,
    path_id,
    query_date,
    query_limit,
    query_text,
    ref,
)
from gateway.settlement.model import BatchType
from gateway.wire.settlements import BATCH_ID

__all__ = ["paths"]

_FILE_DESCRIPTION: Final = """\
RFC 4180 CSV in UTF-8 with `\\n` line ends; byte-identical on every download, from any gateway
process (the lines were frozen when the batch closed). The header row is

`record_type,id,payment_id,merchant_reference,partner,wallet,succeeded_at,currency,amount,payer_currency,payer_amount,fx_rate,fee,net`

then one row per line, payments first, then refunds, then reversals, each by id:
- `record_type`: `payment`, `refund`, or `reversal` (a payment settled in an earlier batch whose
  cancel completed after that batch closed: its amounts and fee given back, negative);
- `currency` is the batch currency; amounts are major units with exactly the currency's
  decimals (`1250.50`, `1234`, `1.250`); refund and reversal `amount`, `payer_amount`, `fee` and
  `net` are negative; `net` = `amount` − `fee` on every row; `succeeded_at` is the partner's
  reported time (for a reversal, when it was booked);
- in a merchant batch `amount`/`fee` are the merchant amount and merchant fee; in a partner
  batch the payer amount and the partner's fee (`payer_currency`/`payer_amount` repeat them).

The last row is `total,<number of rows above>,,,,,,<currency>,<Σ amount>,,,,<Σ fee>,<Σ net>`.
Text cells beginning with `=`, `+`, `-` or `@` are prefixed with `'` (formula guard)."""


def paths() -> JSON:
    batch_id = path_id("batch_id", "stl_", {"type": "string", "pattern": BATCH_ID})
    readers = ["finance", "operator"]
    return {
        "/v1/settlements": {
            "get": {
                "operationId": "listSettlements",
                "tags": ["Settlements"],
                "summary": "List settlement batches, newest business date first",
                "description": "A finance key sees its merchant's merchant batches; an operator "
                "sees every merchant's and every partner's. Without `business_date`, open batches "
                "of the last `durations.settlement_lookback` (7 days) are listed. Unknown query "
                "parameters are `invalid_request`.",
                "x-roles": readers,
                "parameters": [
                    query_date("Only batches of this business date (`YYYY-MM-DD`)."),
                    {
                        "name": "status",
                        "in": "query",
                        "schema": {"type": "string", "enum": ["open", "closed"]},
                    },
                    {
                        "name": "type",
                        "in": "query",
                        "description": "A finance key asking for `partner` gets an empty list.",
                        "schema": {"type": "string", "enum": [str(t) for t in BatchType]},
                    },
                    query_limit(),
                    query_text(
                        "starting_after", "A batch id: the page starts after it (older days)."
                    ),
                ],
                "responses": {
                    "200": json_response(
                        "A page of batches.", ref("schemas", "SettlementBatchList")
                    ),
                    **error_responses("authentication_failed", "forbidden", "invalid_request"),
                },
            }
        },
        "/v1/settlements/{batch_id}": {
            "get": {
                "operationId": "getSettlement",
                "tags": ["Settlements"],
                "summary": "A settlement batch (open: live totals; closed: frozen)",
                "x-roles": readers,
                "parameters": [batch_id],
                "responses": {
                    "200": json_response("The batch.", ref("schemas", "SettlementBatch")),
                    **error_responses("authentication_failed", "forbidden", "not_found"),
                },
            }
        },
        "/v1/settlements/{batch_id}/file": {
            "get": {
                "operationId": "getSettlementFile",
                "tags": ["Settlements"],
                "summary": "The CSV file of a closed batch",
                "description": _FILE_DESCRIPTION,
                "x-roles": readers,
                "parameters": [batch_id],
                "responses": {
                    "200": {
                        "description": "The file, streamed.",
                        "headers": headers("Content-Digest", "ETag", "Content-Disposition"),
                        "content": {"text/csv; charset=utf-8": {"schema": {"type": "string"}}},
                    },
                    **error_responses(
                        "authentication_failed", "forbidden", "not_found", "batch_not_closed"
                    ),
                },
            }
        },
    }
