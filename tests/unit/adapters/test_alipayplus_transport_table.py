"""`classify_transport_error`: the aiohttp cause decides, httpx's wrapper only without one."""

from __future__ import annotations

import aiohttp
import httpx
import pytest
from aiohttp.client_reqrep import ConnectionKey

from adapters import Delivery
from adapters._transport import (
    AIOHTTP_DELIVERY,
    call_deadline,
    classify_transport_error,
    new_http_client,
    request_timeout,
)

NOT_SENT, MAYBE_SENT = Delivery.NOT_SENT, Delivery.MAYBE_SENT
KEY = ConnectionKey("partner.test", 443, True, True, None, None, None, None)


def wrapped(cause: Exception, wrapper: type[Exception]) -> Exception:
    """What httpx_aiohttp raises: its (often wrong) httpx type, `from` the aiohttp one."""
    try:
        raise wrapper(str(cause)) from cause
    except Exception as exc:
        return exc


AIOHTTP_CASES = [
    (aiohttp.ClientConnectorError(KEY, ConnectionRefusedError(111, "refused")), NOT_SENT),
    (aiohttp.ClientConnectorDNSError(KEY, OSError(-2, "Name or service not known")), NOT_SENT),
    (aiohttp.ClientProxyConnectionError(KEY, OSError(1, "proxy")), NOT_SENT),
    (aiohttp.ConnectionTimeoutError("connect timeout"), NOT_SENT),
    (aiohttp.ServerDisconnectedError(), MAYBE_SENT),
    (aiohttp.SocketTimeoutError("sock_read"), MAYBE_SENT),
    (aiohttp.ServerTimeoutError("timeout"), MAYBE_SENT),
    (aiohttp.ClientOSError(104, "Connection reset by peer"), MAYBE_SENT),
    (aiohttp.ClientPayloadError("truncated"), MAYBE_SENT),
    (aiohttp.ClientConnectionResetError("reset"), MAYBE_SENT),
    (aiohttp.ClientConnectionError("closed"), MAYBE_SENT),
    (aiohttp.ClientError("other"), MAYBE_SENT),
]


@pytest.mark.parametrize(("cause", "delivery"), AIOHTTP_CASES)
@pytest.mark.parametrize(
    "wrapper", [httpx.ConnectTimeout, httpx.ConnectError, httpx.ReadTimeout, httpx.ReadError]
)
def test_aiohttp_cause_decides_whatever_the_wrapper(
    cause: Exception, delivery: Delivery, wrapper: type[Exception]
) -> None:
    assert classify_transport_error(wrapped(cause, wrapper)) is delivery


def test_server_disconnected_mapped_to_connect_timeout_is_maybe_sent() -> None:
    # httpx_aiohttp maps every ClientConnectionError to httpx.ConnectTimeout: not a connect issue.
    assert (
        classify_transport_error(wrapped(aiohttp.ServerDisconnectedError(), httpx.ConnectTimeout))
        is MAYBE_SENT
    )


@pytest.mark.parametrize(
    ("error", "delivery"),
    [
        (httpx.ConnectError("refused"), NOT_SENT),
        (httpx.ConnectTimeout("slow"), NOT_SENT),
        (httpx.PoolTimeout("pool"), NOT_SENT),
        (httpx.UnsupportedProtocol("ftp"), NOT_SENT),
        (httpx.ReadTimeout("slow"), MAYBE_SENT),
        (httpx.WriteTimeout("slow"), MAYBE_SENT),
        (httpx.ReadError("reset"), MAYBE_SENT),
        (httpx.WriteError("pipe"), MAYBE_SENT),
        (httpx.RemoteProtocolError("garbage"), MAYBE_SENT),
        (httpx.LocalProtocolError("bad"), MAYBE_SENT),
        (httpx.ProxyError("proxy"), MAYBE_SENT),
        (httpx.TimeoutException("?"), MAYBE_SENT),
        (TimeoutError(), MAYBE_SENT),  # our overall deadline
        (ConnectionRefusedError(), MAYBE_SENT),  # not from a transport we know: assume sent
        (ValueError("?"), MAYBE_SENT),
    ],
)
def test_httpx_native_and_unknown(error: Exception, delivery: Delivery) -> None:
    assert classify_transport_error(error) is delivery


def test_only_explicit_causes_count() -> None:
    try:
        try:
            raise aiohttp.ClientConnectorError(KEY, ConnectionRefusedError(111, "refused"))
        except aiohttp.ClientError:
            raise httpx.ReadTimeout("later, unrelated") from None
    except httpx.ReadTimeout as exc:
        assert classify_transport_error(exc) is MAYBE_SENT


def test_cause_cycles_terminate() -> None:
    a, b = httpx.ReadError("a"), httpx.ReadError("b")
    a.__cause__, b.__cause__ = b, a
    assert classify_transport_error(a) is MAYBE_SENT


def test_table_lists_only_client_errors() -> None:
    assert all(issubclass(cls, aiohttp.ClientError) for cls in AIOHTTP_DELIVERY)


def test_timeouts() -> None:
    timeout = request_timeout(8.0)
    assert (timeout.connect, timeout.read, timeout.write, timeout.pool) == (8.0, 8.0, 8.0, 8.0)
    assert call_deadline(8.0) == 10.0
    assert call_deadline(0.2) == pytest.approx(0.7)


async def test_client_has_no_default_timeout() -> None:
    async with new_http_client(max_connections=3) as client:
        assert client.timeout == httpx.Timeout(None)
