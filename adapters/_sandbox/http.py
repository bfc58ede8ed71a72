"""HTTP helpers every sandbox app shares: its test routes' JSON, dates in paths, error texts.

Nothing here knows a protocol: each protocol's sandbox signs and words its own answers. These
serve the unsigned test-only routes under `/_sandbox/` and the parts of a request every
protocol reads the same way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import date
from typing import Any, Protocol

from aiohttp import web
from pydantic import ValidationError

__all__ = ["json_response", "ledger_json_handler", "parse_business_date", "validation_summary"]


def json_response(status: int, body: Mapping[str, Any]) -> web.Response:
    """Compact JSON, unsigned: the test routes' answers (never a protocol answer)."""
    return web.Response(
        status=status, text=json.dumps(body, separators=(",", ":")), content_type="application/json"
    )


def parse_business_date(text: str) -> date | None:
    """A strict `YYYY-MM-DD`, or None."""
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


class _JSONLedger(Protocol):
    def to_json(self) -> dict[str, Any]: ...


def ledger_json_handler(
    key: web.AppKey[Any],
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The `GET /_sandbox/ledger` handler for the ledger stored under `app[key]`."""

    async def ledger_json(request: web.Request) -> web.StreamResponse:
        ledger: _JSONLedger = request.app[key]
        return web.Response(
            text=json.dumps(ledger.to_json(), separators=(",", ":")),
            content_type="application/json",
        )

    return ledger_json


def validation_summary(exc: ValidationError) -> str:
    """The first few problems of a request body, for an error message (locations and types,
    never the values, which could hold a wallet code)."""
    return "; ".join(".".join(str(p) for p in e["loc"]) + f" {e['type']}" for e in exc.errors()[:3])
