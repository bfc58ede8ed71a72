"""Health and readiness on the wire (`GET /healthz`, `GET /readyz`).

A class's docstring is its description in the OpenAPI document.
"""

from typing import Annotated, Literal

from pydantic import Field, with_config
from typing_extensions import TypedDict

from gateway.partners.health import BreakerState
from gateway.wire.common import CLOSED, Count, Timestamp, one_of

__all__ = ["Health", "Readiness"]


@with_config(CLOSED)
class Health(TypedDict):
    status: Literal["ok"]


@with_config(CLOSED)
class Breaker(TypedDict):  # as `gateway.partners.health.Health.snapshot` reports it
    breaker: Annotated[str, one_of(BreakerState)]
    consecutive_failures: Count
    retry_after_seconds: Annotated[
        float, Field(ge=0, description="How long an open breaker stays open.")
    ]


@with_config(CLOSED)
class RateSourceState(TypedDict):
    """A rate source's current set: quotes use the first fresh source that has both
    currencies, and refuse (`rate_unavailable`) when none has."""

    fresh: bool
    rate_set: Annotated[str | None, Field(description="null: nothing fetched yet.")]
    published_at: Timestamp | None
    stale_at: Annotated[
        Timestamp | None,
        Field(description="When the set stops pricing (null: never, or no set)."),
    ]
    age_seconds: int | None


@with_config(CLOSED)
class Checks(TypedDict):
    config: Literal["ok"]
    database: Annotated[str, Field(description="`ok`, or `unavailable: <exception type>`.")]
    partners: Annotated[
        dict[str, Breaker],
        Field(description="Per configured partner id, its circuit breaker."),
    ]
    fx: Annotated[
        dict[str, RateSourceState],
        Field(description="Per configured rate source, in priority order, its current set."),
    ]


@with_config(CLOSED)
class Readiness(TypedDict):
    status: Literal["ready", "not_ready"]
    checks: Checks
