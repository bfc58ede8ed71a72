"""The rate sources as `/readyz` and `gateway fx sources` show them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import fx
from gateway.core.render import rfc3339

__all__ = ["rate_sources_view"]


def rate_sources_view(states: Iterable[fx.SourceState], now: datetime) -> dict[str, Any]:
    """Per source, in priority order: its current set, when it goes stale and its age."""
    view: dict[str, Any] = {}
    for state in states:
        rate_set = state.rate_set
        age = state.age_seconds(now)
        view[state.source] = {
            "fresh": state.fresh,
            "rate_set": None if rate_set is None else rate_set.id,
            "published_at": None if rate_set is None else rfc3339(rate_set.published_at),
            "stale_at": None if state.current_until is None else rfc3339(state.current_until),
            "age_seconds": None if age is None else int(age),
        }
    return view
