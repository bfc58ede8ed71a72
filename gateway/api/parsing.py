"""Strict request parsing: every fault names its field and its documented error code.

Which fields a body has, which are required and their limits are those of the request types
in `gateway/wire/` (the OpenAPI document's request schemas are generated from them), read
here rather than restated. The checks stay by hand, in a fixed order, so that each fault keeps
its own code, `param` and message (pydantic would report differently, and several at once).

JSON numbers with a fraction or an exponent are read as `Decimal`, never float, so `12.5` or
`1e3` in an amount is reported as `invalid_amount` rather than silently truncated. Duplicate keys
are refused: two readers of the same body must never see different requests.

Hostile text is refused here, before anything is written or sent, because everything after
parsing assumes it can store, sign and render what it was given: a string with an unpaired
surrogate (valid JSON, `"\\udfff"`) cannot be encoded as UTF-8, and PostgreSQL refuses NUL in
text. Nesting is capped at `MAX_DEPTH`, and integers of more than `_MAX_DIGITS` digits are never
converted (Python refuses to print ints past 4,300 digits, and nothing we take is that large).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol
from urllib.parse import unquote_to_bytes

import fx
from adapters import PaymentCode
from gateway.core.errors import InvalidAmount, InvalidRequest, UnsupportedCurrency
from gateway.payments.service import CreatePayment
from gateway.wire.common import (
    IDENTIFIER,
    METADATA_KEY_LENGTH,
    METADATA_KEYS,
    METADATA_VALUE_LENGTH,
    MoneyInput,
)
from gateway.wire.payments import (
    CancelRequest,
    MerchantQrInput,
    PaymentRequest,
    WalletCodeInput,
)
from gateway.wire.quotes import QuoteRequest
from gateway.wire.refunds import REASON_LENGTH, RefundRequest

__all__ = [
    "MAX_DEPTH",
    "check_query",
    "check_text",
    "check_url_text",
    "parse_create_payment",
    "parse_create_quote",
    "parse_create_refund",
    "parse_empty",
    "parse_json",
    "parse_limit",
]

_IDENTIFIER = re.compile(IDENTIFIER)
MAX_DEPTH = 32
_MAX_DIGITS = 20  # 10^13 is the largest amount; a longer integer is refused, never converted
_MAX_DECIMAL = 40
_UNSAFE_TEXT = re.compile("[\x00\ud800-\udfff]")
_SUSPECT_ESCAPE = re.compile(r"\\u(?:0000|[dD][89abcdefABCDEF])")
_UNSAFE_URL_TEXT = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")
_LIMIT = re.compile("[0-9]{1,3}")  # ASCII digits only: str.isdigit() also takes '²' and '١'


class _Oversized:
    """A number literal too long (or too far out of range) to be any value we accept; its
    field refuses it by type. Never converted, so no conversion limit is ever hit."""

    __slots__ = ("length",)

    def __init__(self, text: str) -> None:
        self.length = len(text)

    def __repr__(self) -> str:  # the request hash's `default=str` and any message quoting it
        return f"<a number of {self.length} characters>"

    __str__ = __repr__


def _parse_int(text: str) -> int | _Oversized:
    return int(text) if len(text) <= _MAX_DIGITS else _Oversized(text)


def _parse_decimal(text: str) -> Decimal | _Oversized:
    if len(text) > _MAX_DECIMAL:
        return _Oversized(text)
    try:
        return Decimal(text)
    except InvalidOperation:  # an exponent past Decimal's range: 1e-9999999999999999999
        return _Oversized(text)


def check_text(value: str, param: str | None, *, where: str | None = None) -> str:
    """`value` unless it holds NUL or an unpaired surrogate (not encodable as UTF-8)."""
    found = _UNSAFE_TEXT.search(value)
    if found is None:
        return value
    what = "a NUL character" if found.group() == "\x00" else "an unpaired surrogate"
    raise InvalidRequest(
        f"{where or param or 'The request'} holds {what}: text must be valid Unicode without NUL.",
        param=param,
    )


def check_url_text(value: str, param: str | None, *, where: str | None = None) -> str:
    """A path segment or query value: no control characters either (no id or filter has any)."""
    if _UNSAFE_URL_TEXT.search(value) is None:
        return value
    raise InvalidRequest(
        f"{where or param or 'The URL'} holds a control character or is not valid Unicode.",
        param=param,
    )


def check_query(raw: str) -> None:
    """Every name and value of a raw query string decodes as UTF-8, holds no control character,
    and comes once. Checked on the raw string: the parsed query has already turned undecodable
    escapes (`%FF`) into U+FFFD, which would pass as a filter that matches nothing."""
    seen: set[str] = set()
    for pair in raw.split("&"):
        name, _, value = pair.partition("=")
        decoded_name = _url_decoded(name)
        if decoded_name is None:
            raise InvalidRequest("A query parameter's name is not valid UTF-8.")
        check_url_text(decoded_name, None, where="A query parameter's name")
        if decoded_name in seen:  # `limit=1&limit=abc`: no reader may pick another one
            raise InvalidRequest(f"{decoded_name} is given twice.", param=decoded_name)
        seen.add(decoded_name)
        decoded_value = _url_decoded(value)
        if decoded_value is None:
            raise InvalidRequest(f"{decoded_name} is not valid UTF-8.", param=decoded_name)
        check_url_text(decoded_value, decoded_name)


def _url_decoded(text: str) -> str | None:
    try:
        return unquote_to_bytes(text.replace("+", " ")).decode("utf-8")
    except UnicodeDecodeError:
        return None


def _check_tree(value: Any, param: str, depth: int) -> None:
    """Depth and text of every key and string of a parsed body (small: at most 64 KiB)."""
    if isinstance(value, str):
        check_text(value, param or None)
        return
    if not isinstance(value, dict | list):
        return
    if depth > MAX_DEPTH:
        raise InvalidRequest(
            f"The body is nested deeper than {MAX_DEPTH} levels.", param=param or None
        )
    prefix = f"{param}." if param else ""
    if isinstance(value, dict):
        for key, item in value.items():
            check_text(key, param or None, where=f"A key of {param or 'the body'}")
            _check_tree(item, prefix + key, depth + 1)
    else:
        for index, item in enumerate(value):
            _check_tree(item, f"{prefix}{index}", depth + 1)


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
        text = raw.decode("utf-8")
        body = json.loads(
            text,
            parse_float=_parse_decimal,
            parse_int=_parse_int,
            parse_constant=_reject_constant,
            object_pairs_hook=_no_duplicates,
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequest(f"The body is not valid JSON: {exc}.") from exc
    except RecursionError:
        raise InvalidRequest(f"The body is nested deeper than {MAX_DEPTH} levels.") from None
    if not isinstance(body, dict):
        raise InvalidRequest("The body must be a JSON object.")
    # Raw UTF-8 cannot hold a surrogate, and JSON cannot hold a raw NUL: both come only as
    # `\\u` escapes, and depth needs that many brackets. Most bodies have neither: no walk.
    if _SUSPECT_ESCAPE.search(text) or text.count("{") + text.count("[") > MAX_DEPTH:
        _check_tree(body, "", 1)
    return body


class _Shape(Protocol):
    """A request type of `gateway/wire/` (a `TypedDict` class)."""

    __required_keys__: frozenset[str]
    __optional_keys__: frozenset[str]


def _fields(obj: Any, shape: _Shape, *, where: str = "") -> Mapping[str, Any]:
    """`obj` if it is an object with no field `shape` lacks and every field it requires."""
    prefix = f"{where}." if where else ""
    if not isinstance(obj, dict):
        raise InvalidRequest(f"{where or 'The body'} must be an object.", param=where or None)
    required = shape.__required_keys__
    for key in obj:
        if key not in required and key not in shape.__optional_keys__:
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
    money = _fields(obj, MoneyInput, where=param)
    code = money["currency"]
    if not isinstance(code, str):
        raise InvalidRequest(
            f"{param}.currency must be a string (an ISO 4217 code).", param=f"{param}.currency"
        )
    try:
        currency = fx.get_currency(code)
    except fx.UnsupportedCurrency as exc:
        raise UnsupportedCurrency(
            f"{code!r} is not a supported payment currency.", param=f"{param}.currency"
        ) from exc
    value = money["value"]
    if isinstance(value, _Oversized):
        raise InvalidAmount(
            f"{param}.value must be between 1 and 10^13 minor units.", param=f"{param}.value"
        )
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
    if not isinstance(value, dict) or len(value) > METADATA_KEYS:
        raise InvalidRequest(
            f"metadata must be an object of at most {METADATA_KEYS} string values.",
            param="metadata",
        )
    shortest, longest = METADATA_KEY_LENGTH
    for key, item in value.items():
        if (
            not shortest <= len(key) <= longest
            or not isinstance(item, str)
            or len(item) > METADATA_VALUE_LENGTH
        ):
            raise InvalidRequest(
                f"metadata keys have {shortest} to {longest} characters and values are strings "
                f"of at most {METADATA_VALUE_LENGTH}.",
                param=f"metadata.{key}",
            )
    return dict(value)


def parse_create_payment(body: dict[str, Any]) -> CreatePayment:
    fields = _fields(body, PaymentRequest)
    code, wallet = _payment_method(fields["payment_method"])
    # Absent means "quote on the spot"; `null` is not a quote id (the schema types it string).
    quote_id = _identifier(fields["quote_id"], "quote_id") if "quote_id" in fields else None
    return CreatePayment(
        merchant_reference=_identifier(fields["merchant_reference"], "merchant_reference"),
        amount=parse_money(fields["amount"], "amount"),
        code=code,
        wallet=wallet,
        quote_id=quote_id,
        store_id=_identifier(fields["store_id"], "store_id") if "store_id" in fields else None,
        terminal_id=_identifier(fields["terminal_id"], "terminal_id")
        if "terminal_id" in fields
        else None,
        metadata=_metadata(fields["metadata"]) if "metadata" in fields else {},
    )


def _payment_method(method: Any) -> tuple[PaymentCode | None, str | None]:
    """(the scanned code, None) for `wallet_code`; (None, the wallet) for `merchant_qr`."""
    kind = method.get("type") if isinstance(method, dict) else None
    if kind == "merchant_qr":
        fields = _fields(method, MerchantQrInput, where="payment_method")
        if not isinstance(fields["wallet"], str):
            raise InvalidRequest(
                "payment_method.wallet must be a string.", param="payment_method.wallet"
            )
        return None, fields["wallet"]
    fields = _fields(method, WalletCodeInput, where="payment_method")
    if fields["type"] != "wallet_code":
        raise InvalidRequest(
            "payment_method.type must be 'wallet_code' or 'merchant_qr'.",
            param="payment_method.type",
        )
    if not isinstance(fields["code"], str):
        raise InvalidRequest("payment_method.code must be a string.", param="payment_method.code")
    return PaymentCode(fields["code"]), None


def parse_create_refund(body: dict[str, Any]) -> tuple[fx.Money, str | None]:
    fields = _fields(body, RefundRequest)
    reason = fields.get("reason")  # absent: none; present (null included): a string
    shortest, longest = REASON_LENGTH
    if "reason" in fields and (
        not isinstance(reason, str) or not shortest <= len(reason) <= longest
    ):
        raise InvalidRequest(
            f"reason must be a string of {shortest} to {longest} characters.", param="reason"
        )
    return parse_money(fields["amount"], "amount"), reason


def parse_empty(body: dict[str, Any]) -> None:
    """A cancel's or a redelivery's body: `{}` (`CancelRequest` and `RedeliverRequest` alike)."""
    _fields(body, CancelRequest)


def parse_create_quote(body: dict[str, Any]) -> tuple[fx.Money, str]:
    fields = _fields(body, QuoteRequest)
    wallet = fields["wallet"]
    if not isinstance(wallet, str):
        raise InvalidRequest("wallet must be a string.", param="wallet")
    return parse_money(fields["amount"], "amount"), wallet


def parse_limit(query: Mapping[str, str]) -> tuple[int, str | None]:
    raw = query.get("limit", "10")
    if not _LIMIT.fullmatch(raw) or not 1 <= int(raw) <= 100:
        raise InvalidRequest("limit must be an integer from 1 to 100.", param="limit")
    return int(raw), query.get("starting_after")
