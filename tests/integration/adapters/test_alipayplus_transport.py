"""The real transport on loopback: which failures count as "never sent"."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from aiohttp import web

from adapters import Delivery
from adapters._transport import classify_transport_error, new_http_client, request_timeout


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


@pytest.fixture
async def slow_server() -> AsyncIterator[str]:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(float(request.query.get("wait", "1")))
        return web.Response(text="late")

    app = web.Application()
    app.router.add_post("/slow", slow)
    runner, url = await _serve(app)
    yield url
    await runner.cleanup()


async def _failure(call: Awaitable[httpx.Response]) -> Exception:
    try:
        await call
    except Exception as exc:
        return exc
    raise AssertionError("the call did not fail")


async def test_answer_held_past_read_timeout_is_maybe_sent(slow_server: str) -> None:
    async with new_http_client() as client:
        error = await _failure(
            client.post(f"{slow_server}/slow?wait=0.5", content=b"{}", timeout=request_timeout(0.1))
        )
    assert classify_transport_error(error) is Delivery.MAYBE_SENT


async def test_closed_port_is_not_sent() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with new_http_client() as client:
        error = await _failure(
            client.post(f"http://127.0.0.1:{port}/x", content=b"{}", timeout=request_timeout(1))
        )
    assert classify_transport_error(error) is Delivery.NOT_SENT


async def test_pool_timeout_is_not_sent(slow_server: str) -> None:
    async with new_http_client(max_connections=1) as client:
        busy = asyncio.create_task(
            client.post(f"{slow_server}/slow?wait=0.3", content=b"{}", timeout=request_timeout(2))
        )
        await asyncio.sleep(0.05)
        error = await _failure(
            client.post(
                f"{slow_server}/slow?wait=0",
                content=b"{}",
                timeout=httpx.Timeout(connect=1, read=1, write=1, pool=0.1),
            )
        )
        assert classify_transport_error(error) is Delivery.NOT_SENT
        assert (await busy).status_code == 200


async def _raw_server(
    on_request: Callable[[asyncio.StreamWriter], None],
) -> tuple[asyncio.Server, str]:
    """A TCP server that reads one request head, then does `on_request` instead of answering."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        on_request(writer)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()


def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def _garbage(writer: asyncio.StreamWriter) -> None:
    writer.write(b"NOT HTTP AT ALL\r\n\r\n")
    writer.close()


@pytest.mark.parametrize("behaviour", [_close, _reset, _garbage], ids=["close", "reset", "garbage"])
async def test_failure_after_the_request_was_written_is_maybe_sent(
    behaviour: Callable[[asyncio.StreamWriter], None],
) -> None:
    server, url = await _raw_server(behaviour)
    try:
        async with new_http_client() as client:
            error = await _failure(
                client.post(f"{url}/x", content=b"{}", timeout=request_timeout(1))
            )
    finally:
        server.close()
        await server.wait_closed()
    assert classify_transport_error(error) is Delivery.MAYBE_SENT
