"""The tourist's side of `POST /_sandbox/scan`, for `gateway sandbox scan` and tests.

An order code a sandbox issued is a URL on that sandbox (`<base url>/oc/<token>`,
`adapters._sandbox.orders`), so the scan goes to the code's own origin: no configuration
needed. `scan` posts the scan and returns the sandbox's JSON answer; `describe` words it for a
terminal.

A store's entry code (static: the tourist types the amount) also takes `amount` (major units
as typed, "125.50") and `wallet`; its URL form (`<base url>/e/<id>`) is scanned at its origin,
but an EMVCo payload names no sandbox: pass `sandbox_url` (the CLI's `--sandbox`).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import httpx

__all__ = ["ScanAnswer", "ScanFailed", "describe", "dumps", "scan", "scan_body", "scan_url"]

SCAN_PATH = "/_sandbox/scan"  # as `adapters._sandbox.orders.SCAN_PATH`


class ScanFailed(Exception):
    """The scan could not be sent, or the answer is not the sandbox's JSON."""


@dataclasses.dataclass(frozen=True, slots=True)
class ScanAnswer:
    status: int
    body: dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.status == 200


def scan_url(code: str, sandbox_url: str | None = None) -> str:
    """Where a code is scanned: `<origin of the code URL>/_sandbox/scan`, or
    `<sandbox_url>/_sandbox/scan` when given (an EMVCo entry code names no sandbox)."""
    if sandbox_url is not None:
        code = sandbox_url
    try:
        url = httpx.URL(code)
    except httpx.InvalidURL:
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise ScanFailed(
            "the code is not a sandbox URL (http://host:port/oc/...): only codes a sandbox "
            "issued can be scanned"
        )
    return f"{url.scheme}://{url.netloc.decode('ascii')}{SCAN_PATH}"


def scan_body(
    code: str,
    *,
    suffix: str = "0000",
    notify: str | None = None,
    delay_seconds: float | None = None,
    amount_delta: int | None = None,
    max_attempts: int | None = None,
    amount: str | None = None,
    wallet: str | None = None,
    entry_twice: bool | None = None,
) -> dict[str, Any]:
    """The JSON body of a scan; options left as None are not sent (the sandbox's defaults).
    `amount` and `wallet` are for an entry code (required there, refused for an order code)."""
    body: dict[str, Any] = {"code": code, "suffix": suffix}
    optional = {
        "notify": notify,
        "delay_seconds": delay_seconds,
        "amount_delta": amount_delta,
        "max_attempts": max_attempts,
        "amount": amount,
        "wallet": wallet,
        "entry_twice": entry_twice,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    return body


def scan(
    code: str, *, timeout: float = 60.0, sandbox_url: str | None = None, **options: Any
) -> ScanAnswer:
    """POST a scan of `code` (options as `scan_body`) to the sandbox that issued it (or to
    `sandbox_url`)."""
    url = scan_url(code, sandbox_url)
    try:
        response = httpx.post(url, json=scan_body(code, **options), timeout=timeout)
    except httpx.HTTPError as exc:
        raise ScanFailed(f"POST {url}: {type(exc).__name__}: {exc}") from None
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ScanFailed(f"POST {url}: HTTP {response.status_code}, not a sandbox answer")
    return ScanAnswer(response.status_code, body)


def describe(answer: ScanAnswer) -> str:
    """A few lines for a terminal: what the scan did and whether the merchant was told."""
    body = answer.body
    if not answer.ok:
        error = body.get("error") or {}
        state = f" (the order is {body['state']})" if body.get("state") else ""
        message = error.get("message") or f"HTTP {answer.status}"
        return f"refused: {message}{state}"
    entry = body.get("entry_order")
    if isinstance(entry, dict) and not body.get("charged") and body.get("order") is None:
        answers = entry.get("answers") or [{}]
        why = answers[0].get("code") or answers[0].get("error") or "-"
        return (
            f"entry order {entry.get('entry_order_id')} for store {entry.get('store_id')}: "
            f"{body.get('state')} ({why}); nothing charged"
        )
    order = body.get("order") or {}
    amount = order.get("amount") or {}
    lines = (
        []
        if not isinstance(entry, dict)
        else [
            f"entry order {entry.get('entry_order_id')} for store {entry.get('store_id')}: "
            f"confirmed as {order.get('payment_request_id')}"
        ]
    )
    lines += [
        f"order {order.get('payment_request_id')}: {body.get('state')} "
        f"({amount.get('value')} minor units {amount.get('currency')}, "
        f"scan outcome {body.get('outcome')})"
    ]
    notified = body.get("notified")
    attempts = body.get("attempts")
    if body.get("notify") == "never":
        lines.append("notification: never sent (the gateway must find it by inquiry)")
    elif notified is None:
        lines.append("notification: scheduled (late)")
    elif notified:
        lines.append(f"notification: acknowledged after {attempts} attempt(s)")
    else:
        target = order.get("notify_url") or "no notify URL"
        lines.append(f"notification: not acknowledged after {attempts} attempt(s) ({target})")
    return "\n".join(lines)


def dumps(answer: ScanAnswer) -> str:
    return json.dumps(answer.body, indent=2, sort_keys=True)
