"""The HTTP seam shared by every adapter: one client factory and one error table.

Partner calls go through `httpx.AsyncClient` (so tests inject `MockTransport`) over
`httpx_aiohttp.AiohttpTransport` (httpx's own pool is far slower under concurrency).

The only question an adapter asks of a transport error is "could the partner have received the
request?" (`Delivery`). httpx_aiohttp translates aiohttp's exceptions loosely (every
`aiohttp.ClientConnectionError`, `ServerDisconnectedError` included, becomes
`httpx.ConnectTimeout`), so the original aiohttp exception, kept as `__cause__`, is classified
first; httpx's own types only when no aiohttp exception is in the chain. Each table is looked up
along the exception's MRO, so the most specific entry wins, and anything not listed is
MAYBE_SENT: only a certain "never left" is NOT_SENT.

Timeouts: `request_timeout()` builds the per-call `httpx.Timeout`. httpx_aiohttp passes it to
aiohttp as `ClientTimeout(sock_connect=connect, sock_read=read, connect=pool)`: `pool` bounds the
wait for a pooled connection plus connecting, `read` the silence between received bytes, and
`write` is not enforced at all; so callers also wrap the call in an overall deadline
(`call_deadline()`), whose expiry is MAYBE_SENT.
"""

from __future__ import annotations

import httpx
from aiohttp import client_exceptions as aio
from httpx_aiohttp import AiohttpTransport

from adapters._base import Delivery

__all__ = [
    "call_deadline",
    "classify_transport_error",
    "new_http_client",
    "request_timeout",
]

_NOT_SENT = Delivery.NOT_SENT
_MAYBE_SENT = Delivery.MAYBE_SENT

# aiohttp 3.14 (client_exceptions.py). ClientConnectorError covers refused connections, DNS
# (ClientConnectorDNSError), TLS handshake failures (ClientSSLError and its subclasses) and proxy
# connection failures: all raised before a request byte is written.
AIOHTTP_DELIVERY: dict[type[BaseException], Delivery] = {
    aio.ClientError: _MAYBE_SENT,
    aio.ClientConnectionError: _MAYBE_SENT,
    aio.ClientOSError: _MAYBE_SENT,  # e.g. a reset while writing or reading
    aio.ClientConnectorError: _NOT_SENT,
    aio.ServerConnectionError: _MAYBE_SENT,
    aio.ServerDisconnectedError: _MAYBE_SENT,
    aio.ServerTimeoutError: _MAYBE_SENT,
    aio.SocketTimeoutError: _MAYBE_SENT,  # sock_read expired: the request was written
    aio.ConnectionTimeoutError: _NOT_SENT,  # connect / sock_connect expired
    aio.ServerFingerprintMismatch: _NOT_SENT,  # checked on the new connection, before sending
    aio.ClientPayloadError: _MAYBE_SENT,
    aio.ClientResponseError: _MAYBE_SENT,
    aio.InvalidURL: _NOT_SENT,
    aio.NonHttpUrlClientError: _NOT_SENT,
}

HTTPX_DELIVERY: dict[type[BaseException], Delivery] = {
    httpx.HTTPError: _MAYBE_SENT,
    httpx.TransportError: _MAYBE_SENT,
    httpx.TimeoutException: _MAYBE_SENT,
    httpx.ConnectTimeout: _NOT_SENT,
    httpx.PoolTimeout: _NOT_SENT,
    httpx.ReadTimeout: _MAYBE_SENT,
    httpx.WriteTimeout: _MAYBE_SENT,
    httpx.NetworkError: _MAYBE_SENT,
    httpx.ConnectError: _NOT_SENT,
    httpx.ReadError: _MAYBE_SENT,
    httpx.WriteError: _MAYBE_SENT,
    httpx.CloseError: _MAYBE_SENT,
    httpx.ProtocolError: _MAYBE_SENT,
    httpx.RemoteProtocolError: _MAYBE_SENT,
    httpx.ProxyError: _MAYBE_SENT,
    httpx.UnsupportedProtocol: _NOT_SENT,
}


def _lookup(exc: BaseException, table: dict[type[BaseException], Delivery]) -> Delivery | None:
    for cls in type(exc).__mro__:
        if cls in table:
            return table[cls]
    return None


def _chain(exc: BaseException) -> list[BaseException]:
    """`exc`, then its explicit causes (`raise ... from`), cycle-safe.

    Implicit `__context__` is not followed: an exception that merely happened while another was
    being handled says nothing about this request.
    """
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not e for e in seen):
        seen.append(current)
        current = current.__cause__
    return seen


def classify_transport_error(exc: Exception) -> Delivery:
    """NOT_SENT only when the request certainly never reached the partner; else MAYBE_SENT."""
    chain = _chain(exc)
    for link in chain:
        if isinstance(link, aio.ClientError):
            return _lookup(link, AIOHTTP_DELIVERY) or _MAYBE_SENT
    for link in chain:
        if isinstance(link, httpx.HTTPError):
            return _lookup(link, HTTPX_DELIVERY) or _MAYBE_SENT
    return _MAYBE_SENT


def request_timeout(seconds: float) -> httpx.Timeout:
    """Every phase of one partner call bounded by the operation's timeout."""
    return httpx.Timeout(connect=seconds, read=seconds, write=seconds, pool=seconds)


def call_deadline(seconds: float) -> float:
    """The overall deadline around a call: a little beyond its phase timeouts.

    It only catches what aiohttp does not time out (writes, a trickling body); the margin lets
    the phase timeouts fire first, since they classify better (a pool timeout is NOT_SENT).
    """
    return seconds + max(0.5, seconds * 0.25)


class _NoCookies(httpx.Cookies):
    """A jar that never fills: `extract_cookies` runs on every response, and building its
    urllib stand-ins for request and response was ~7 % of the gateway's CPU per payment."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class _PartnerClient(httpx.AsyncClient):
    """Partner APIs authenticate each request by signature and set no cookies: this client
    keeps none (an empty jar also makes httpx skip its per-request cookie merge)."""

    @property
    def cookies(self) -> httpx.Cookies:
        return _NO_COOKIES

    @cookies.setter
    def cookies(self, cookies: httpx._types.CookieTypes) -> None:
        raise TypeError("partner clients keep no cookies")


_NO_COOKIES = _NoCookies()


def new_http_client(*, max_connections: int = 200) -> httpx.AsyncClient:
    """A client for partner calls: aiohttp transport, no default timeout (each call sets one),
    no cookie jar."""
    limits = httpx.Limits(
        max_connections=max_connections, max_keepalive_connections=max_connections
    )
    return _PartnerClient(transport=AiohttpTransport(limits=limits), timeout=None)
