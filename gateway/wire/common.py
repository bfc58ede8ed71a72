"""Shapes every resource shares: money, identifiers, metadata, timestamps, rates.

The request rules here (`IDENTIFIER`, `METADATA_KEYS`, ...) are the ones `gateway/api/parsing.py`
enforces: parsing reads them from this module, so the schema and the parser cannot disagree.
"""

from collections.abc import Iterable
from typing import Annotated, Any, Final

from pydantic import ConfigDict, Field, with_config
from typing_extensions import TypedDict

import fx
from gateway.wire._schema import named

__all__ = [
    "CLOSED",
    "IDENTIFIER",
    "METADATA_KEYS",
    "METADATA_KEY_LENGTH",
    "METADATA_VALUE_LENGTH",
    "MONEY_EXAMPLE",
    "NO_NUL",
    "Count",
    "Currency",
    "Date",
    "Identifier",
    "Metadata",
    "Money",
    "MoneyInput",
    "OptionalTimestamp",
    "Rate",
    "Timestamp",
    "closed",
    "money",
    "one_of",
    "prefixed",
]

IDENTIFIER: Final = "[A-Za-z0-9._:/-]{1,64}"
METADATA_KEYS: Final = 20
METADATA_KEY_LENGTH: Final = (1, 40)
METADATA_VALUE_LENGTH: Final = 500
# Text a request may carry: no NUL (unpaired surrogates are refused too, but JSON Schema has no
# way to say so).
NO_NUL: Final = "^[^\\u0000]*$"

CLOSED: Final = ConfigDict(extra="forbid")
"""Objects have exactly their declared fields (`additionalProperties: false`)."""


def closed(example: Any, *, single: bool = False) -> ConfigDict:
    """`CLOSED`, with an example of the object (`single`: spelt `example`, not `examples`)."""
    extra: dict[str, Any] = {"example": example} if single else {"examples": [example]}
    return ConfigDict(extra="forbid", json_schema_extra=extra)


def prefixed(prefix: str) -> Any:
    """An id's schema: a string starting with its type prefix (the rest is opaque)."""
    return Field(pattern=f"^{prefix}")


def one_of(values: Iterable[str], description: str | None = None) -> Any:
    """A string field taking one of `values`: a view fills it from a `StrEnum`'s `.value`, so its
    type is `str` and the enumeration is the schema's (given the enum itself, it cannot drift)."""
    return Field(
        json_schema_extra={"enum": [str(value) for value in values]}, description=description
    )


Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
"""RFC 3339, UTC, milliseconds (`gateway.core.render.rfc3339`)."""
OptionalTimestamp = Timestamp | None

Date = Annotated[str, Field(json_schema_extra={"format": "date"})]
"""A business date, `YYYY-MM-DD`."""

Count = Annotated[int, Field(ge=0)]

Currency = Annotated[
    str,
    Field(
        pattern="^[A-Z]{3}$",
        description="ISO 4217 alphabetic code of a payment currency (upper case; no fund codes, "
        "no XAU/XTS/XXX): anything else is `unsupported_currency`.",
        examples=["THB"],
    ),
]

Rate = Annotated[
    str, Field(pattern="^[0-9]+(\\.[0-9]+)?$", description="A decimal string, never a float.")
]

Identifier = Annotated[
    str,
    Field(pattern=f"^{IDENTIFIER}$"),
    named(
        "Identifier",
        description="A merchant's own identifier: 1 to 64 characters of `[A-Za-z0-9._:/-]`.",
    ),
]

Metadata = Annotated[
    dict[
        Annotated[
            str,
            Field(
                min_length=METADATA_KEY_LENGTH[0],
                max_length=METADATA_KEY_LENGTH[1],
                pattern=NO_NUL,
            ),
        ],
        Annotated[str, Field(max_length=METADATA_VALUE_LENGTH, pattern=NO_NUL)],
    ],
    Field(max_length=METADATA_KEYS),
    named(
        "Metadata",
        description="At most 20 keys of 1 to 40 characters; string values of at most 500 "
        "(characters, not bytes). Keys and values are valid Unicode without NUL.",
    ),
]

MONEY_EXAMPLE: Final = {"currency": "THB", "value": 125050}


@with_config(closed(MONEY_EXAMPLE))
class Money(TypedDict):
    """An amount in integer minor units of its currency (ISO 4217 exponent)."""

    currency: Currency
    value: Annotated[
        int,
        Field(
            description="Minor units: THB 125050 is 1,250.50 THB; JPY 1234 is 1,234 JPY. 0 where "
            "nothing happened yet (`amount_refunded`)."
        ),
    ]


@with_config(closed(MONEY_EXAMPLE))
class MoneyInput(TypedDict):
    """Money in a request: an integer from 1 to 10^13 minor units. A number with a fraction or
    exponent (`12.0`, `1e3`) is `invalid_amount`."""

    currency: Currency
    value: Annotated[int, Field(ge=1, le=fx.MAX_AMOUNT)]


def money(amount: fx.Money) -> Money:
    """An amount as the API shows it."""
    return {"currency": amount.currency.code, "value": amount.value}
