"""An error answer on the wire: `{"error": {"code", "message", "param"?, ...}}`, as
`GatewayError.to_json` renders it (the middleware adds `internal_error` for anything else).

A class's docstring is its description in the OpenAPI document.
"""

from typing import Annotated, Final, NotRequired

from pydantic import Field, with_config
from typing_extensions import TypedDict

from gateway.core import errors
from gateway.wire._schema import named
from gateway.wire.common import CLOSED

__all__ = ["ERROR_CODES", "Error", "ErrorBody"]

ERROR_CODES: Final = tuple(
    dict.fromkeys(
        cls.code
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.GatewayError)
    )
)
"""Every code the API answers: each `GatewayError` subclass's, and the base's `internal_error`."""

ErrorCode = Annotated[str, named("ErrorCode", enum=list(ERROR_CODES))]


@with_config(CLOSED)
class ErrorBody(TypedDict):
    code: ErrorCode
    message: Annotated[str, Field(description="For humans; may change.")]
    param: NotRequired[
        Annotated[str, Field(description="The field at fault, where one is (`amount.value`).")]
    ]
    payment_id: NotRequired[
        Annotated[
            str,
            Field(
                description="With `duplicate_merchant_reference`: the payment that has this "
                "reference."
            ),
        ]
    ]
    partner: NotRequired[
        Annotated[str, Field(description="With `partner_unavailable`: the last partner tried.")]
    ]


@with_config(CLOSED)
class Error(TypedDict):
    error: ErrorBody
