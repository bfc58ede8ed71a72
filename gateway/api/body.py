"""Reading a request's body: its size, its media type, then strict parsing (`parsing.py`).

The media type is checked because a body in another encoding (`charset=utf-16`) or format
(form, XML) must not reach the parser by luck: API.md says JSON bodies, UTF-8.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.api.parsing import parse_json
from gateway.api.state import MAX_BODY
from gateway.core.errors import InvalidRequest, RequestTooLarge, UnsupportedMediaType

__all__ = ["json_body", "raw_body"]


async def raw_body(request: web.Request) -> bytes:
    """The body's bytes, refused early when its declared length is over the limit (a chunked
    body over it is stopped by aiohttp's `client_max_size` while it is read)."""
    limit = request.app[MAX_BODY]
    if request.content_length is not None and request.content_length > limit:
        raise RequestTooLarge(f"The body is larger than {limit} bytes.")
    try:
        return await request.read()
    except web.RequestPayloadError as exc:  # e.g. `Content-Encoding: gzip` on bytes that are not
        raise InvalidRequest(f"The body could not be read: {exc}.") from None
    except ConnectionResetError:  # the client left mid-body: nobody to answer, nothing to log
        raise InvalidRequest("The connection closed before the body arrived.") from None


async def json_body(request: web.Request, *, may_be_empty: bool = False) -> dict[str, Any]:
    """The body as a JSON object. `may_be_empty`: no body at all reads as `{}` (cancel,
    redeliver), whatever its Content-Type; a body of blanks is not JSON, and is refused."""
    raw = await raw_body(request)
    if may_be_empty and not raw:
        return {}
    charset = (request.charset or "utf-8").lower()
    if request.content_type != "application/json" or charset not in ("utf-8", "utf8"):
        raise UnsupportedMediaType(
            "Send the body as JSON in UTF-8: 'Content-Type: application/json' "
            f"(got {_shown(request.headers.get('Content-Type'))}).",
            param="Content-Type",
        )
    return parse_json(raw)


def _shown(header: str | None) -> str:
    if header is None:
        return "none"
    # Echo only a short printable ASCII form: the header is whatever the client sent.
    return repr(header[:80].encode("ascii", "backslashreplace").decode("ascii"))
