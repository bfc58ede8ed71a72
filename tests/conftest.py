"""Shared fixtures: real databases (a SQLite file; a fresh PostgreSQL database per session), and
the protocol family a family-wide test runs under (`tests/support/families.py`).

PostgreSQL is used when a server answers at `GATEWAY_TEST_POSTGRES` (default
`postgresql+asyncpg://postgres@127.0.0.1:5432/postgres`); otherwise its tests are skipped, unless
`GATEWAY_REQUIRE_POSTGRES=1` (CI), where a missing server fails the run instead.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from gateway.storage.migrate import upgrade
from tests.support.families import FAMILIES

REPO = Path(__file__).resolve().parent.parent
POSTGRES_SERVER = os.environ.get(
    "GATEWAY_TEST_POSTGRES", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_POSTGRES = os.environ.get("GATEWAY_REQUIRE_POSTGRES") == "1"

# Timing stays out of assertions: on this 2-core machine, running the suite on two workers, an
# example can outlast hypothesis's 200 ms deadline and a strategy its generation time limit.
settings.register_profile("suite", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("suite")

_postgres_ran = False


async def _admin_sql(*statements: str) -> None:
    import asyncpg

    dsn = POSTGRES_SERVER.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgresql_url() -> Iterator[str]:
    global _postgres_ran
    name = f"gw_test_{secrets.token_hex(6)}"
    try:
        asyncio.run(_admin_sql(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL is required (GATEWAY_REQUIRE_POSTGRES=1) but: {exc!r}")
        pytest.skip(f"no PostgreSQL server at {POSTGRES_SERVER}: {exc!r}")
    url = POSTGRES_SERVER.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    _postgres_ran = True
    yield url
    asyncio.run(_admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("db") / "gateway.db"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url)
    return url


def own_database(request: pytest.FixtureRequest) -> Iterator[str]:
    """A database of its own for a module whose checks read whole tables (`ledger verify`):
    the session's databases also hold other tests' payments, some under other configs."""
    if request.param == "sqlite":
        path = request.getfixturevalue("tmp_path_factory").mktemp("own") / "gateway.db"
        url = f"sqlite+aiosqlite:///{path}"
        upgrade(url)
        yield url
        return
    request.getfixturevalue("postgresql_url")  # skips (or fails in CI) without a server
    name = f"gw_test_{secrets.token_hex(6)}"
    asyncio.run(_admin_sql(f'CREATE DATABASE "{name}"'))
    url = POSTGRES_SERVER.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    yield url
    asyncio.run(_admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test using it runs once per database."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture(params=FAMILIES)
def protocol_family(request: pytest.FixtureRequest) -> str:
    """Each test using it runs once per protocol family (`alipayplus`, `walletrest`)."""
    name: str = request.param
    return name


_workers_postgres = {"ran": False, "selected": False}
"""What the xdist workers reported (`scripts/test` runs the suite on two)."""


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """A worker's PostgreSQL report, gathered for the controller's check below (a worker that
    crashed reports nothing; its tests fail anyway)."""
    report = getattr(node, "workeroutput", {})
    for what in _workers_postgres:
        _workers_postgres[what] |= bool(report.get(f"postgres_{what}"))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI, a run whose PostgreSQL tests silently did not run is a failed run. A worker reports
    to its controller, which judges the whole run."""
    selected = any(item.get_closest_marker("postgres") for item in session.items)
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput.update(postgres_ran=_postgres_ran, postgres_selected=selected)
        return
    ran = _postgres_ran or _workers_postgres["ran"]
    selected = selected or _workers_postgres["selected"]
    if REQUIRE_POSTGRES and not ran and selected and exitstatus == 0:
        session.exitstatus = 1
        print("\nGATEWAY_REQUIRE_POSTGRES=1 but no PostgreSQL test ran")
