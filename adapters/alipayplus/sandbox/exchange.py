"""What every Alipay+ sandbox handler does around its own logic: the signed exchange.

A request must be signed by a merchant key the sandbox knows (else a signed F `ACCESS_DENIED`
/ `INVALID_SIGNATURE`, nothing charged) and parse as the operation's body (else F
`PARAM_ILLEGAL`); a handler raises `Reply` to answer at once with such a result. Every answer
is signed with the sandbox key over `<METHOD> <path>\\n<client-id>.<response-time>.<body>`.
Response header names are lower case (`client-id`, `response-time`, `signature`) because Ant's
Python SDK looks them up that way.
"""

from __future__ import annotations

import dataclasses
from typing import TypeVar

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import BaseModel, ValidationError

from adapters._sandbox.entry import EntryDesk
from adapters._sandbox.http import validation_summary
from adapters._sandbox.orders import OrderDesk
from adapters._sandbox.scenarios import CodeBehaviour
from adapters._sandbox.settlement import SettlementDesk
from adapters.alipayplus import codes
from adapters.alipayplus import models as wire
from adapters.alipayplus.sandbox.ledger import SandboxLedger
from adapters.alipayplus.sandbox.settings import SandboxSettings
from adapters.alipayplus.signing import SignatureHeader, build_content, sign, verify

__all__ = [
    "STATE",
    "Reply",
    "SandboxState",
    "authenticated_body",
    "parse_body",
    "result",
    "signed",
    "signed_bytes",
]

_Model = TypeVar("_Model", bound=BaseModel)


@dataclasses.dataclass
class SandboxState:
    """Everything one sandbox app's handlers share (kept in the app under `STATE`)."""

    settings: SandboxSettings
    private_key: rsa.RSAPrivateKey
    merchant_keys: dict[str, rsa.RSAPublicKey]
    ledger: SandboxLedger
    behaviour: CodeBehaviour
    desk: SettlementDesk
    orders: OrderDesk
    entries: EntryDesk | None = None  # set once the state exists (its protocol needs it)


STATE = web.AppKey("alipayplus_sandbox_state", SandboxState)


class Reply(Exception):
    """Raised inside a handler to answer at once with a signed protocol result."""

    def __init__(self, status: str, code: str, message: str) -> None:
        super().__init__(code)
        self.result = wire.Result(result_status=status, result_code=code, result_message=message)


def result(status: str, code: str, message: str) -> wire.Result:
    """A protocol `result`: S, F or U with its code and message."""
    return wire.Result(result_status=status, result_code=code, result_message=message)


def signed(request: web.Request, state: SandboxState, answer: BaseModel) -> web.Response:
    """Serialise and sign an answer over `POST <request path>\\n<client-id>.<time>.<body>`."""
    return signed_bytes(request, state, wire.encode(answer), "application/json; charset=UTF-8")


def signed_bytes(
    request: web.Request,
    state: SandboxState,
    body: bytes,
    content_type: str,
    *,
    wrong_signature: bool = False,
) -> web.Response:
    """Sign raw answer bytes (JSON or the settlement CSV) the protocol's way; with
    `wrong_signature`, a well-formed signature by the right key over other bytes (a test
    switch: the client must refuse it)."""
    settings = state.settings
    client_id = settings.client_id_in_responses
    if client_id is None:
        client_id = request.headers.get("client-id", "")
    response_time = settings.clock.now().isoformat(timespec="seconds")
    content = build_content(request.method, request.path, client_id, response_time, body)
    if wrong_signature:
        content += b" "
    header = SignatureHeader(
        signature=sign(state.private_key, content), key_version=settings.key_version
    )
    return web.Response(
        body=body,
        headers={
            "content-type": content_type,
            "client-id": client_id,
            "response-time": response_time,
            "signature": header.render(),
        },
    )


async def authenticated_body(request: web.Request, state: SandboxState) -> bytes:
    """The raw body of a request signed by a known merchant, else a signed refusal."""
    raw = await request.read()
    client_id = request.headers.get("client-id")
    key = state.merchant_keys.get(client_id or "")
    if key is None:
        raise Reply("F", codes.ACCESS_DENIED, "Access is denied: unknown client-id.")
    try:
        header = SignatureHeader.parse(request.headers.get("Signature", ""))
    except ValueError:
        raise Reply("F", codes.INVALID_SIGNATURE, "The signature is invalid.") from None
    request_time = request.headers.get("Request-Time", "")
    content = build_content(request.method, request.path, client_id or "", request_time, raw)
    if not verify(key, content, header.signature):
        raise Reply("F", codes.INVALID_SIGNATURE, "The signature is invalid.")
    return raw


def parse_body(raw: bytes, model: type[_Model]) -> _Model:
    """The body as `model`, else a signed F `PARAM_ILLEGAL` naming the bad fields."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        where = validation_summary(exc)
        raise Reply("F", codes.PARAM_ILLEGAL, f"Illegal parameters: {where}") from None
