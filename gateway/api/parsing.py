"""Strict request parsing: every fault names its field and its documented error code.

JSON numbers with a fraction or an exponent are read as `Decimal`, never float, so `12.5` or
`1e3` in an amount is reported as `invalid_amount` rather than silently truncated. Duplicate keys
are refused: two readers of the same body must never see different requests.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import fx
from adapters import PaymentCode
from gateway.errors import InvalidAmount, InvalidRequest, UnsupportedCurrency
from gateway.services.payments import CreatePayment

__all__ = [
    "parse_create_payment",
    "parse_create_quote",
    "parse_create_refund",
    "parse_empty",
    "parse_json",
    "parse_limit",
]

_IDENTIFIER = re.compile(r"[A-Za-z0-9._:/-]{1,64}")
_METADATA_KEYS = 20


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def parse_json(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(
            raw.decode("utf-8"),
            parse_float=Decimal,
            parse_constant=_reject_constant,
            object_pairs_hook=_no_duplicates,
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequest(f"The body is not valid JSON: {exc}.") from exc
    if not isinstance(body, dict):
        raise InvalidRequest("The body must be a JSON object.")
    return body


def _fields(
    obj: Any, *, required: set[str], optional: set[str], where: str = ""
) -> Mapping[str, Any]:
    prefix = f"{where}." if where else ""
    if not isinstance(obj, dict):
        raise InvalidRequest(f"{where or 'The body'} must be an object.", param=where or None)
    for key in obj:
        if key not in required and key not in optional:
            raise InvalidRequest(f"Unknown field {prefix}{key}.", param=f"{prefix}{key}")
    for key in sorted(required):
        if key not in obj:
            raise InvalidRequest(f"Missing field {prefix}{key}.", param=f"{prefix}{key}")
    return obj


def _identifier(value: Any, param: str) -> str:
    if not isinstance(value, str) or not _IDENTIFIER.fullmatch(value):
        raise InvalidRequest(
            f"{param} must be 1 to 64 characters of A-Z a-z 0-9 . _ : / -", param=param
        )
    return value


def parse_money(obj: Any, param: str) -> fx.Money:
    money = _fields(obj, required={"currency", "value"}, optional=set(), where=param)
    code = money["currency"]
    try:
        currency = fx.get_currency(code)
    except fx.UnsupportedCurrency as exc:
        raise UnsupportedCurrency(
            f"{code!r} is not a supported payment currency.", param=f"{param}.currency"
        ) from exc
    value = money["value"]
    if type(value) is not int:
        raise InvalidAmount(
            f"{param}.value must be an integer count of minor units.", param=f"{param}.value"
        )
    if not 1 <= value <= fx.MAX_AMOUNT:
        raise InvalidAmount(
            f"{param}.value must be between 1 and 10^13 minor units.", param=f"{param}.value"
        )
    return fx.Money(value, currency)


def _metadata(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or len(value) > _METADATA_KEYS:
        raise InvalidRequest(
            f"metadata must be an object of at most {_METADATA_KEYS} string values.",
            param="metadata",
        )
    for key, item in value.items():
        if not 1 <= len(key) <= 40 or not isinstance(item, str) or len(item) > 500:
            raise InvalidRequest(
                "metadata keys have 1 to 40 characters and values are strings of at most 500.",
                param=f"metadata.{key}",
            )
    return dict(value)


def parse_create_payment(body: dict[str, Any]) -> CreatePayment:
    fields = _fields(
        body,
        required={"merchant_reference", "amount", "payment_method"},
        optional={"quote_id", "store_id", "terminal_id", "metadata"},
    )
    method = _fields(
        fields["payment_method"], required={"type", "code"}, optional=set(), where="payment_method"
    )
    if method["type"] != "wallet_code":
        raise InvalidRequest(
            "payment_method.type must be 'wallet_code'.", param="payment_method.type"
        )
    if not isinstance(method["code"], str):
        raise InvalidRequest("payment_method.code must be a string.", param="payment_method.code")
    quote_id = fields.get("quote_id")
    if quote_id is not None and not isinstance(quote_id, str):
        raise InvalidRequest("quote_id must be a string.", param="quote_id")
    return CreatePayment(
        merchant_reference=_identifier(fields["merchant_reference"], "merchant_reference"),
        amount=parse_money(fields["amount"], "amount"),
        code=PaymentCode(method["code"]),
        quote_id=quote_id,
        store_id=_identifier(fields["store_id"], "store_id") if "store_id" in fields else None,
        terminal_id=_identifier(fields["terminal_id"], "terminal_id")
        if "terminal_id" in fields
        else None,
        metadata=_metadata(fields["metadata"]) if "metadata" in fields else {},
    )


def parse_create_refund(body: dict[str, Any]) -> tuple[fx.Money, str | None]:
    fields = _fields(body, required={"amount"}, optional={"reason"})
    reason = fields.get("reason")
    if reason is not None and (not isinstance(reason, str) or not 1 <= len(reason) <= 500):
        raise InvalidRequest("reason must be a string of 1 to 500 characters.", param="reason")
    return parse_money(fields["amount"], "amount"), reason


def parse_empty(body: dict[str, Any]) -> None:
    _fields(body, required=set(), optional=set())


def parse_create_quote(body: dict[str, Any]) -> tuple[fx.Money, str]:
    fields = _fields(body, required={"amount", "wallet"}, optional=set())
    wallet = fields["wallet"]
    if not isinstance(wallet, str):
        raise InvalidRequest("wallet must be a string.", param="wallet")
    return parse_money(fields["amount"], "amount"), wallet


def parse_limit(query: Mapping[str, str]) -> tuple[int, str | None]:
    raw = query.get("limit", "10")
    if not raw.isdigit() or not 1 <= int(raw) <= 100:
        raise InvalidRequest("limit must be an integer from 1 to 100.", param="limit")
    return int(raw), query.get("starting_after")
