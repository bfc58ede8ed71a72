"""JSON as the merchant API writes it: compact ASCII text, RFC 3339 times.

Shared by every view (`payments/views.py`, `refunds/views.py`, `quotes/views.py`, events,
settlement), so an object reads the same in an answer, a replay, a list and a webhook.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, overload

__all__ = ["dumps", "rfc3339"]


@overload
def rfc3339(value: datetime) -> str: ...
@overload
def rfc3339(value: None) -> None: ...
@overload
def rfc3339(value: datetime | None) -> str | None: ...
def rfc3339(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def dumps(obj: Any) -> str:
    """Compact JSON in ASCII (non-ASCII `\\u`-escaped): every str renders, so an answer built
    after a partner call cannot fail on text, whatever a row holds."""
    return json.dumps(obj, separators=(",", ":"))
