"""The Alembic migrations build exactly the schema the SQLModel tables describe, on both
databases: a model change without its migration fails here."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.storage.tables import metadata


def _diff(connection: sa.Connection) -> list[Any]:
    differences: list[Any] = compare_metadata(MigrationContext.configure(connection), metadata)
    return differences


async def test_migrated_schema_matches_the_tables(database_url: str) -> None:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
    finally:
        await engine.dispose()
