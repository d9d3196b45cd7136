"""Fixtures of the store and receiver tiers: a migrated store and table checksums."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg  # type: ignore[import-untyped]
import pytest

from agentobs.store import Store


@pytest.fixture
async def store(database_dsn: str) -> AsyncIterator[Store]:
    """A store on a fresh, migrated database, closed after the test."""
    opened = await Store.connect(database_dsn, pool_size=8)
    await opened.migrate()
    yield opened
    await opened.close()


@pytest.fixture
def table_checksums() -> Callable[[str], Awaitable[dict[str, str]]]:
    """A function that returns an md5 of the rows of every table, by table name."""
    return _table_checksums


async def _table_checksums(dsn: str) -> dict[str, str]:
    connection = await asyncpg.connect(dsn)
    try:
        tables = await connection.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        )
        checksums = {}
        for row in tables:
            name = row["tablename"]
            checksums[name] = await connection.fetchval(
                f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), ''))"
                f' FROM "{name}" t'
            )
        return checksums
    finally:
        await connection.close()
