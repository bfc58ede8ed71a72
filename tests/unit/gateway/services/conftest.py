"""Service tests run in virtual time, each on a SQLite file of its own.

Every test here gets a `VirtualTimeLoop` (`tests/support/virtual_time.py`), so the services'
waits take no real time; and a fresh copy of one migrated database (migrating once per session
keeps the suite fast).
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import pytest

from gateway.storage.migrate import upgrade
from tests.support.services import Services, running_services
from tests.support.virtual_time import VirtualTimeLoop


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, type[VirtualTimeLoop]]:
    return {"virtual_time": VirtualTimeLoop}


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("services") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture
async def services(migrated_database: Path, tmp_path: Path) -> AsyncIterator[Services]:
    path = tmp_path / "gateway.db"
    shutil.copyfile(migrated_database, path)
    async with running_services(f"sqlite+aiosqlite:///{path}") as running:
        yield running
