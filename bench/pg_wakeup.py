"""A PostgreSQL round trip back to back and after the client idled: what waking up costs.

In an open-loop run every hop of a payment (load generator, gateway, PostgreSQL, sandbox) may
start from idle, where a closed loop at c=1 keeps them all warm. This prints the round-trip
time of `SELECT 1` and of a committed one-row `INSERT` from asyncpg, back to back and with the
client's event loop sleeping between them (docs/benchmarks.md, "PostgreSQL's open-loop latency").

    .venv/bin/python -m bench.pg_wakeup [--dsn postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import time

import asyncpg

GAPS_MS = (0, 2, 5, 10, 20)


async def measure(dsn: str, rounds: int) -> list[tuple[int, str, float, float]]:
    """(gap ms, statement, p50 ms, p99 ms) for each gap and statement."""
    conn = await asyncpg.connect(dsn)
    table = f"bench_wakeup_{secrets.token_hex(4)}"
    await conn.execute(f"CREATE TABLE {table} (id serial PRIMARY KEY, v text)")
    statements = (("SELECT 1", "SELECT 1"), ("INSERT", f"INSERT INTO {table} (v) VALUES ('x')"))
    found = []
    try:
        for gap in GAPS_MS:
            for label, sql in statements:
                times = []
                for _ in range(rounds):
                    started = time.perf_counter()
                    await conn.execute(sql)
                    times.append((time.perf_counter() - started) * 1000)
                    if gap:
                        await asyncio.sleep(gap / 1000)
                times.sort()
                found.append((gap, label, times[len(times) // 2], times[int(len(times) * 0.99)]))
    finally:
        await conn.execute(f"DROP TABLE {table}")
        await conn.close()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    print("| idle between (ms) | statement | p50 ms | p99 ms |\n|---|---|---|---|")
    for gap, label, p50, p99 in asyncio.run(measure(args.dsn, args.rounds)):
        print(f"| {gap} | {label} | {p50:.3f} | {p99:.3f} |")


if __name__ == "__main__":
    main()
