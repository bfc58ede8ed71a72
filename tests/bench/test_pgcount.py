"""The round-trip counter (`bench.pgcount`): its reading of the PostgreSQL protocol, from bytes.

The frontend reader is fed hand-made protocol v3 bytes (an SSLRequest, a StartupMessage, an
extended-query exchange ending in Sync, a simple Query) whole and byte by byte; the proxy is run
against a stand-in server on loopback (no database); and once against the real PostgreSQL when
one answers (`postgres` marker), through asyncpg as the gateway uses it.
"""

from __future__ import annotations

import asyncio
import struct

import pytest

from bench.pgcount import (
    BackendReader,
    FrontendReader,
    ProtocolError,
    Proxy,
    connection_kind,
    round_trips_between,
)


def typed(kind: bytes, body: bytes = b"") -> bytes:
    """A typed message: its letter, an int32 length counting itself, its body."""
    return kind + struct.pack("!i", len(body) + 4) + body


def untyped(code: int, body: bytes = b"") -> bytes:
    return struct.pack("!ii", len(body) + 8, code) + body


def startup(**parameters: str) -> bytes:
    pairs = b"".join(k.encode() + b"\0" + v.encode() + b"\0" for k, v in parameters.items())
    return untyped(3 << 16, pairs + b"\0")


SSL_REQUEST = untyped(80877103)
STARTUP = startup(user="postgres", database="bench", plan_cache_mode="force_custom_plan")
PARSE = typed(b"P", b"\0SELECT $1::int\0" + struct.pack("!h", 0))
BIND = typed(b"B", b"\0\0" + struct.pack("!hhihh", 0, 1, 1, 0, 0) + b"1")
EXECUTE = typed(b"E", b"\0" + struct.pack("!i", 0))
SYNC = typed(b"S")
QUERY = typed(b"Q", b"BEGIN\0")
FLUSH = typed(b"H")
DESCRIBE = typed(b"D", b"S\0")
TERMINATE = typed(b"X")
EXCHANGE = PARSE + BIND + EXECUTE + SYNC + QUERY


def test_counts_sync_and_query_after_the_startup_packet() -> None:
    reader = FrontendReader()
    messages = reader.feed(STARTUP + EXCHANGE)
    assert [m.kind for m in messages] == ["startup", "P", "B", "E", "S", "Q"]
    assert b"".join(m.raw for m in messages) == STARTUP + EXCHANGE  # forwarded as they came
    assert reader.started
    assert reader.parameters == {
        "user": "postgres",
        "database": "bench",
        "plan_cache_mode": "force_custom_plan",
    }
    assert reader.round_trips == 2  # one Sync, one Query
    assert reader.counts["S"] == reader.counts["Q"] == 1
    # asyncpg's prepare: Parse, Describe, Flush, then it waits: one more
    reader.feed(PARSE + DESCRIBE + FLUSH + TERMINATE)
    assert reader.round_trips == 3
    assert reader.counts["H"] == 1 and reader.counts["X"] == 1


def test_an_ssl_request_comes_before_the_startup_packet() -> None:
    reader = FrontendReader()
    first = reader.feed(SSL_REQUEST)
    assert [m.kind for m in first] == ["ssl_request"] and first[0].raw == SSL_REQUEST
    assert not reader.started and reader.round_trips == 0
    assert [m.kind for m in reader.feed(STARTUP + SYNC)] == ["startup", "S"]
    assert reader.round_trips == 1


def test_messages_split_anywhere_are_read_the_same() -> None:
    stream = SSL_REQUEST + STARTUP + EXCHANGE + EXCHANGE
    reader = FrontendReader()
    kinds: list[str] = []
    raw = b""
    for i in range(len(stream)):
        for message in reader.feed(stream[i : i + 1]):
            kinds.append(message.kind)
            raw += message.raw
    assert kinds == ["ssl_request", "startup", *"PBESQ", *"PBESQ"]
    assert raw == stream
    assert reader.round_trips == 4


def test_a_cancel_request_is_not_a_startup() -> None:
    reader = FrontendReader()
    cancel = untyped(80877102, struct.pack("!ii", 1234, 5678))
    assert [m.kind for m in reader.feed(cancel)] == ["cancel"]
    assert not reader.started and reader.parameters == {}
    assert connection_kind(reader.parameters) == "other"


def test_garbage_is_refused() -> None:
    with pytest.raises(ProtocolError):
        FrontendReader().feed(struct.pack("!ii", 3, 0))
    with pytest.raises(ProtocolError):
        FrontendReader().feed(untyped(2 << 16, b"\0"))  # protocol 2
    reader = FrontendReader()
    reader.feed(STARTUP)
    with pytest.raises(ProtocolError):
        reader.feed(b"S" + struct.pack("!i", 2))


def test_backend_ready_for_query_counted_across_splits_and_long_messages() -> None:
    ready = typed(b"Z", b"I")
    row = typed(b"D", b"x" * 100_000)  # a long message, its body skipped as it comes
    stream = typed(b"R", struct.pack("!i", 0)) + ready + row + typed(b"C", b"SELECT 1\0") + ready
    for step in (len(stream), 7, 1):
        reader = BackendReader()
        for i in range(0, len(stream), step):
            reader.feed(stream[i : i + step])
        assert reader.ready == 2, step


def test_connection_kinds() -> None:
    assert connection_kind({"user": "u", "plan_cache_mode": "force_custom_plan"}) == "writer"
    assert connection_kind({"user": "u", "database": "d"}) == "pool"


def _conn(number: int, kind: str, counts: dict[str, int]) -> dict[str, object]:
    trips = sum(n for t, n in counts.items() if t in "SQHF")
    return {"id": number, "kind": kind, "counts": counts, "round_trips": trips, "ready": 0}


def test_round_trips_between_two_snapshots() -> None:
    before = {"connections": [_conn(1, "writer", {"S": 5, "Q": 4}), _conn(2, "pool", {"S": 1})]}
    after = {
        "connections": [
            _conn(1, "writer", {"S": 8, "Q": 6, "P": 3}),
            _conn(2, "pool", {"S": 1}),  # idle meanwhile
            _conn(3, "pool", {"Q": 2, "H": 1}),  # opened meanwhile: counted from zero
        ]
    }
    got = round_trips_between(before, after)
    assert got["writer"]["round_trips"] == 5 and got["writer"]["by_type"] == {"S": 3, "Q": 2}
    assert got["writer"]["connections"] == 1 and got["writer"]["opened"] == 0
    assert got["pool"]["round_trips"] == 3 and got["pool"]["by_type"] == {"H": 1, "Q": 2}
    assert got["pool"]["connections"] == 1 and got["pool"]["opened"] == 1


async def test_proxy_refuses_ssl_and_forwards_the_rest_to_a_stand_in_server() -> None:
    received = bytearray()
    got_all = asyncio.Event()
    answer = typed(b"R", struct.pack("!i", 0)) + typed(b"Z", b"I") + typed(b"Z", b"I")

    async def upstream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while len(received) < len(STARTUP + EXCHANGE):
            data = await reader.read(1 << 16)
            if not data:
                break
            received.extend(data)
        writer.write(answer)
        await writer.drain()
        got_all.set()
        await reader.read()  # until the client goes
        writer.close()

    server = await asyncio.start_server(upstream, "127.0.0.1", 0)
    proxy = Proxy("127.0.0.1", server.sockets[0].getsockname()[1])
    front = await asyncio.start_server(proxy.handle, "127.0.0.1", 0)
    try:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", front.sockets[0].getsockname()[1]
        )
        writer.write(SSL_REQUEST)
        assert await asyncio.wait_for(reader.readexactly(1), 5) == b"N"
        writer.write(STARTUP + EXCHANGE)
        assert await asyncio.wait_for(reader.readexactly(len(answer)), 5) == answer
        await asyncio.wait_for(got_all.wait(), 5)
        assert bytes(received) == STARTUP + EXCHANGE  # the SSLRequest never reached it
        stats = proxy.stats()
        (conn,) = stats["connections"]
        assert conn["kind"] == "writer" and conn["ssl_refused"] == 1
        assert conn["round_trips"] == 2 and conn["ready"] == 2
        writer.write(TERMINATE)
        writer.close()
        for _ in range(100):
            if not proxy.connections[0].closed:
                await asyncio.sleep(0.01)
        assert proxy.stats()["connections"][0]["open"] is False
        assert stats["errors"] == []
    finally:
        front.close()
        server.close()


@pytest.mark.postgres
async def test_proxy_counts_asyncpg_against_the_real_postgresql(postgresql_url: str) -> None:
    import asyncpg

    database = postgresql_url.rsplit("/", 1)[1]
    proxy = Proxy("127.0.0.1", 5432)
    front = await asyncio.start_server(proxy.handle, "127.0.0.1", 0)
    port = front.sockets[0].getsockname()[1]
    try:
        # As gateway/storage/raw.py connects (sslmode prefer: the proxy answers N), and as
        # SQLAlchemy's pool does (no server settings).
        writer = await asyncpg.connect(
            f"postgresql://postgres@127.0.0.1:{port}/{database}",
            server_settings={"plan_cache_mode": "force_custom_plan"},
        )
        pool = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{port}/{database}")
        try:
            await writer.fetchval("SELECT $1::int", 0)  # prepared: Parse/Describe/Flush + Sync
            before = proxy.stats()
            async with writer.transaction():  # BEGIN: Query
                assert await writer.fetchval("SELECT $1::int", 1) == 1  # Bind/Execute/Sync
                await writer.fetchval("SELECT $1::int", 2)  # the statement cache: no Flush
            # COMMIT: Query
            await pool.execute("SELECT 1")  # a simple query
            after = proxy.stats()
        finally:
            await writer.close()
            await pool.close()
    finally:
        front.close()
    got = round_trips_between(before, after)
    assert got["writer"]["by_type"] == {"Q": 2, "S": 2}, got
    assert got["writer"]["round_trips"] == got["writer"]["ready"] == 4, got
    assert got["pool"]["by_type"] == {"Q": 1} and got["pool"]["ready"] == 1, got
    assert all(c["ssl_refused"] == 1 for c in after["connections"])
    assert after["errors"] == []
