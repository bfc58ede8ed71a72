"""What every WalletRest sandbox handler does around its own logic: the signed exchange.

A request needs a known `Authorization: Bearer` key and a fresh, valid `X-Signature` (else a
signed 401 `authentication_error`, nothing charged), every POST an `Idempotency-Key`, and a
body that parses (else a signed 400 `invalid_request`); a handler raises `Reply` to answer at
once with such an error. Every answer is signed with the shared secret over
`<timestamp>.<status>.<raw body>`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from adapters._sandbox.entry import EntryDesk
from adapters._sandbox.http import validation_summary
from adapters._sandbox.orders import OrderDesk
from adapters._sandbox.scenarios import CodeBehaviour
from adapters._sandbox.settlement import SettlementDesk
from adapters.walletrest import codes
from adapters.walletrest import models as wire
from adapters.walletrest.sandbox.ledger import SandboxLedger, digest
from adapters.walletrest.sandbox.settings import SandboxSettings
from adapters.walletrest.signing import (
    is_fresh,
    request_content,
    response_content,
    sign,
    timestamp_of,
    verify,
)
from fx import FXError

__all__ = [
    "STATE",
    "Reply",
    "SandboxState",
    "authenticated_body",
    "body_fingerprint",
    "check_amount",
    "idempotency_key",
    "key_digest",
    "parse_body",
    "signed",
    "signed_body",
]

_Model = TypeVar("_Model", bound=BaseModel)

_KEY = re.compile(r"[\x21-\x7e]{1,255}")  # Idempotency-Key: printable ASCII, no spaces


@dataclasses.dataclass
class SandboxState:
    """Everything one sandbox app's handlers share (kept in the app under `STATE`)."""

    settings: SandboxSettings
    key_digests: frozenset[bytes]
    ledger: SandboxLedger
    behaviour: CodeBehaviour
    desk: SettlementDesk
    orders: OrderDesk
    entries: EntryDesk | None = None  # set once the state exists (its protocol needs it)


STATE = web.AppKey("walletrest_sandbox_state", SandboxState)


class Reply(Exception):
    """Raised inside a handler to answer at once with a signed error."""

    def __init__(
        self, status: int, error_type: str, message: str, *, code: str | None = None
    ) -> None:
        super().__init__(error_type)
        self.status = status
        self.body = wire.ErrorBody(
            error=wire.ErrorDetail(type=error_type, code=code, message=message)
        )


def key_digest(key: str) -> bytes:
    """What the sandbox keeps of an API key: its SHA-256 (looked up in a set, never compared
    character by character)."""
    return hashlib.sha256(key.encode("utf-8")).digest()


def signed(
    state: SandboxState, status: int, answer: BaseModel, *, replayed: bool = False
) -> web.Response:
    """Serialise and sign an answer over `<timestamp>.<status>.<raw body>`."""
    return signed_body(state, status, wire.encode(answer), replayed=replayed)


def signed_body(
    state: SandboxState,
    status: int,
    body: bytes,
    *,
    replayed: bool = False,
    wrong_signature: bool = False,
) -> web.Response:
    """Sign raw answer bytes over `<timestamp>.<status>.<raw body>`; with `wrong_signature`,
    a well-formed MAC with the right secret over other bytes (a test switch: the client must
    refuse it)."""
    timestamp = timestamp_of(state.settings.clock.now())
    content = response_content(timestamp, status, body)
    if wrong_signature:
        content += b" "
    headers = {
        "Content-Type": "application/json",
        "X-Timestamp": timestamp,
        "X-Signature": sign(state.settings.signing_secret, content),
    }
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    if status == 503:
        headers["Retry-After"] = "1"
    return web.Response(status=status, body=body, headers=headers)


async def authenticated_body(request: web.Request, state: SandboxState) -> bytes:
    """The raw body of a request with a known key and a fresh, valid signature."""
    raw = await request.read()
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    # A set lookup by digest: the key itself is never compared character by character.
    if scheme != "Bearer" or key_digest(key.strip()) not in state.key_digests:
        raise Reply(401, codes.AUTHENTICATION_ERROR, "Invalid API key.", code="api_key_invalid")
    timestamp = request.headers.get("X-Timestamp")
    settings = state.settings
    if not is_fresh(timestamp, settings.clock.now(), settings.signature_tolerance_seconds):
        raise Reply(
            401,
            codes.AUTHENTICATION_ERROR,
            "X-Timestamp is missing or outside the tolerance.",
            code="timestamp_out_of_tolerance",
        )
    assert timestamp is not None
    content = request_content(timestamp, request.method, request.raw_path, raw)
    if not verify(settings.signing_secret, content, request.headers.get("X-Signature")):
        raise Reply(
            401, codes.AUTHENTICATION_ERROR, "The signature is invalid.", code="signature_invalid"
        )
    return raw


def idempotency_key(request: web.Request) -> str:
    """The request's `Idempotency-Key`, else a signed 400 (every POST needs one)."""
    key = request.headers.get("Idempotency-Key", "")
    if not _KEY.fullmatch(key):
        raise Reply(
            400,
            codes.INVALID_REQUEST,
            "Idempotency-Key is required: 1-255 printable ASCII characters.",
            code="idempotency_key_invalid",
        )
    return key


def parse_body(raw: bytes, model: type[_Model]) -> _Model:
    """The body as `model`, else a signed 400 `invalid_request` naming the bad fields."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        where = validation_summary(exc)
        raise Reply(
            400, codes.INVALID_REQUEST, f"Invalid parameters: {where}", code="parameter_invalid"
        ) from None


def check_amount(amount: wire.Amount, param: str) -> None:
    """A signed 400 unless `amount` is positive with exactly its currency's decimals."""
    try:
        valid = wire.money_from_wire(amount).value > 0
    except FXError:
        valid = False
    if not valid:
        raise Reply(400, codes.INVALID_REQUEST, f"Invalid amount: {param}", code="amount_invalid")


def body_fingerprint(model: BaseModel) -> str:
    """SHA-256 of the parsed body in canonical form: what makes two requests "the same"."""
    return digest(json.dumps(model.model_dump(mode="json"), sort_keys=True, separators=(",", ":")))
