"""Counting PostgreSQL round trips: a TCP proxy between a client (the gateway) and its server.

    python -m bench.pgcount --port P --upstream 127.0.0.1:5432 --stats-port S

The gateway under count is given `DATABASE_URL=postgresql://user@127.0.0.1:P/db`; the proxy
forwards every connection to the upstream server byte for byte, except an `SSLRequest` or a
`GSSENCRequest`, which it answers `N` itself (no encryption; the client then goes on in clear on
the same connection, as asyncpg's and libpq's default `sslmode=prefer` do), so that what it
forwards can be read.

On each client connection it reads the frontend stream (protocol v3: first an untyped packet,
an int32 length that counts itself and an int32 code, the StartupMessage's code followed by
NUL-terminated name/value pairs; after it, typed messages: one type byte, then an int32 length
that counts itself but not the type byte) and counts the messages by type. A **round trip** is a
message after which the client waits for the server before it goes on:

- `Sync` (`S`): the end of an extended-query exchange (Parse/Bind/Describe/Execute, pipelined);
- `Query` (`Q`): a simple query (asyncpg's `BEGIN` and `COMMIT`);
- `Flush` (`H`): asyncpg prepares a statement with Parse/Describe/Flush and waits for the
  description (once per statement text and connection: its statement cache keeps it);
- `FunctionCall` (`F`), for completeness.

The server answers each `Sync` and each `Query` with exactly one `ReadyForQuery` (`Z`); the proxy
counts those on the backend stream too (`ready`: the round trips of type S and Q, plus the one
that ends the start-up), as a check of the frontend count.

`GET /stats` on the stats port answers every connection so far: its startup parameters (user,
database and the server settings the client sent, e.g. the gateway writer's `plan_cache_mode`),
its counts by message type, its round trips and its `ReadyForQuery`s. `round_trips_between`
turns two such snapshots into the round trips made in between, per kind of connection.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import struct
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from aiohttp import web

__all__ = [
    "ROUND_TRIP_TYPES",
    "BackendReader",
    "FrontendReader",
    "Message",
    "Proxy",
    "connection_kind",
    "main",
    "round_trips_between",
]

SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
CANCEL_REQUEST = 80877102
PROTOCOL_V3 = 3 << 16
ROUND_TRIP_TYPES = frozenset("SQHF")
"""Frontend messages after which the client waits for the server."""
_UNTYPED = {SSL_REQUEST: "ssl_request", GSSENC_REQUEST: "gssenc_request", CANCEL_REQUEST: "cancel"}
_MAX_STARTUP = 10_000  # the server refuses longer startup packets too


class ProtocolError(ValueError):
    """Bytes that are not the frontend protocol v3."""


class Message(NamedTuple):
    """One complete frontend message: `kind` is its type letter (`S`, `Q`, `P`...) or, before
    the start-up, `ssl_request`, `gssenc_request`, `cancel` or `startup`; `raw` its bytes."""

    kind: str
    raw: bytes


@dataclass
class FrontendReader:
    """The client → server stream of one connection, cut into messages and counted."""

    started: bool = False
    """The StartupMessage has been read: every message from now on is typed."""
    parameters: dict[str, str] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    round_trips: int = 0
    _buffer: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> list[Message]:
        """The messages that `data` completes, in order (an incomplete one waits for more)."""
        self._buffer += data
        buffer = self._buffer
        out: list[Message] = []
        at = 0
        while True:
            if self.started:
                if len(buffer) - at < 5:
                    break
                (length,) = struct.unpack_from("!i", buffer, at + 1)
                if length < 4:
                    raise ProtocolError(f"message length {length}")
                end = at + 1 + length
                if len(buffer) < end:
                    break
                kind = chr(buffer[at])
                self.counts[kind] += 1
                if kind in ROUND_TRIP_TYPES:
                    self.round_trips += 1
            else:
                if len(buffer) - at < 8:
                    break
                length, code = struct.unpack_from("!ii", buffer, at)
                if not 8 <= length <= _MAX_STARTUP:
                    raise ProtocolError(f"startup packet length {length}")
                end = at + length
                if len(buffer) < end:
                    break
                kind = _UNTYPED.get(code, "startup")
                if kind == "startup":
                    if code >> 16 != 3:
                        raise ProtocolError(f"protocol {code >> 16}.{code & 0xFFFF}")
                    self.parameters = _parameters(bytes(buffer[at + 8 : end]))
                    self.started = True
                self.counts[kind] += 1
            out.append(Message(kind, bytes(buffer[at:end])))
            at = end
        del buffer[:at]
        return out


def _parameters(body: bytes) -> dict[str, str]:
    """A StartupMessage's name/value pairs (NUL-terminated strings, a NUL at the end)."""
    parts = body.split(b"\0")
    pairs = parts[: len(parts) - len(parts) % 2]
    out: dict[str, str] = {}
    for name, value in zip(pairs[::2], pairs[1::2], strict=True):
        if name:
            out[name.decode(errors="replace")] = value.decode(errors="replace")
    return out


@dataclass
class BackendReader:
    """The server → client stream of one connection: counts its `ReadyForQuery` messages.

    Typed messages from the first byte on: the proxy never forwards an SSLRequest, so the
    server never sends its one-byte answer."""

    ready: int = 0
    _buffer: bytearray = field(default_factory=bytearray)
    _skip: int = 0  # bytes of the current message still to come

    def feed(self, data: bytes) -> None:
        view = memoryview(data)
        if self._skip:
            taken = min(self._skip, len(view))
            self._skip -= taken
            view = view[taken:]
        self._buffer += view
        buffer = self._buffer
        at = 0
        while len(buffer) - at >= 5:
            kind = buffer[at]
            (length,) = struct.unpack_from("!i", buffer, at + 1)
            if length < 4:
                raise ProtocolError(f"backend message length {length}")
            if kind == ord("Z"):
                self.ready += 1
            end = at + 1 + length
            if end > len(buffer):  # the rest of a long message (rows): skip it as it comes
                self._skip = end - len(buffer)
                at = len(buffer)
                break
            at = end
        del buffer[:at]


def connection_kind(parameters: dict[str, str]) -> str:
    """`writer` for the gateway's group-commit writer (its raw asyncpg connections set
    `plan_cache_mode` at start-up: gateway/storage/raw.py), else `pool` (SQLAlchemy's engine:
    reads, and the writer's work units); `other` before a startup packet was seen."""
    if not parameters:
        return "other"
    return "writer" if "plan_cache_mode" in parameters else "pool"


@dataclass
class Connection:
    number: int
    opened: float
    frontend: FrontendReader = field(default_factory=FrontendReader)
    backend: BackendReader = field(default_factory=BackendReader)
    closed: float | None = None
    ssl_refused: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.number,
            "kind": connection_kind(self.frontend.parameters),
            "parameters": self.frontend.parameters,
            "counts": dict(self.frontend.counts),
            "round_trips": self.frontend.round_trips,
            "ready": self.backend.ready,
            "ssl_refused": self.ssl_refused,
            "open": self.closed is None,
        }


class Proxy:
    """Accepts clients and pipes each to a fresh connection to `upstream`, counting."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.connections: list[Connection] = []
        self.errors: list[str] = []

    def stats(self) -> dict[str, Any]:
        return {
            "at": time.time(),
            "connections": [c.as_dict() for c in self.connections],
            "errors": self.errors[-20:],
        }

    async def handle(self, client_in: asyncio.StreamReader, client: asyncio.StreamWriter) -> None:
        conn = Connection(len(self.connections) + 1, time.time())
        self.connections.append(conn)
        try:
            server_in, server = await asyncio.open_connection(*self.upstream)
        except OSError as exc:
            self.errors.append(f"connection {conn.number}: upstream: {exc}")
            conn.closed = time.time()
            client.close()
            return

        async def to_server() -> None:
            while data := await client_in.read(1 << 16):
                out = bytearray()
                for message in conn.frontend.feed(data):
                    if message.kind in ("ssl_request", "gssenc_request"):
                        conn.ssl_refused += 1
                        client.write(b"N")  # no encryption: the client goes on in clear
                    else:
                        out += message.raw
                if out:
                    server.write(out)
                    await server.drain()
                await client.drain()

        async def to_client() -> None:
            while data := await server_in.read(1 << 16):
                conn.backend.feed(data)
                client.write(data)
                await client.drain()

        tasks = [asyncio.create_task(to_server()), asyncio.create_task(to_client())]
        try:
            # Either side closing (or failing) ends both.
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                    await task
        except Exception as exc:  # a ProtocolError above all: recorded, the connection closed
            self.errors.append(f"connection {conn.number}: {type(exc).__name__}: {exc}")
        finally:
            for task in tasks:
                task.cancel()
            conn.closed = time.time()
            for writer in (server, client):
                with contextlib.suppress(Exception):
                    writer.close()


def round_trips_between(
    before: dict[str, Any],
    after: dict[str, Any],
    kind: Callable[[dict[str, Any]], str] = lambda c: str(c["kind"]),
) -> dict[str, dict[str, Any]]:
    """The round trips made between two `/stats` snapshots, per kind of connection:
    {kind: {"connections": active ones, "opened": new ones, "round_trips": n, "ready": n,
    "by_type": {type: n} (S, Q, H, F)}}; a connection opened in between counts from zero."""
    earlier = {c["id"]: c for c in before["connections"]}
    out: dict[str, dict[str, Any]] = {}
    for conn in after["connections"]:
        old = earlier.get(conn["id"])
        trips = conn["round_trips"] - (old["round_trips"] if old else 0)
        ready = conn["ready"] - (old["ready"] if old else 0)
        group = out.setdefault(
            kind(conn),
            {"connections": 0, "opened": 0, "round_trips": 0, "ready": 0, "by_type": {}},
        )
        if old is None:
            group["opened"] += 1
        if trips or old is None:
            group["connections"] += 1
        group["round_trips"] += trips
        group["ready"] += ready
        old_counts = old["counts"] if old else {}
        for letter in sorted(ROUND_TRIP_TYPES):
            n = conn["counts"].get(letter, 0) - old_counts.get(letter, 0)
            if n:
                group["by_type"][letter] = group["by_type"].get(letter, 0) + n
    return out


STATS = web.AppKey("proxy", Proxy)


async def _stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATS].stats())


async def serve(port: int, stats_port: int, upstream: tuple[str, int], host: str) -> None:
    proxy = Proxy(*upstream)
    server = await asyncio.start_server(proxy.handle, host, port)
    app = web.Application()
    app[STATS] = proxy
    app.router.add_get("/stats", _stats)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    # The stats port opens last: once it answers, the proxy listens too.
    await web.TCPSite(runner, host, stats_port).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print(f"pgcount: {host}:{port} -> {upstream[0]}:{upstream[1]}, stats on {stats_port}")
    try:
        await stop.wait()
    finally:
        server.close()
        await runner.cleanup()
        total = sum(c.frontend.round_trips for c in proxy.connections)
        print(f"pgcount: {len(proxy.connections)} connections, {total} round trips", flush=True)


def _upstream(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError("HOST:PORT")
    return host.strip("[]"), int(port)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.pgcount", description=__doc__)
    parser.add_argument("--port", type=int, required=True, help="where the client connects")
    parser.add_argument("--stats-port", type=int, required=True, help="GET /stats")
    parser.add_argument("--upstream", type=_upstream, default=("127.0.0.1", 5432))
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    asyncio.run(serve(args.port, args.stats_port, args.upstream, args.host))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
