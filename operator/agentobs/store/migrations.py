"""Plain SQL migrations, applied in order and recorded in the `schema_migrations` table.

The files are `agentobs/migrations/NNNN_name.sql`, shipped as package data. Each one
runs in its own transaction together with the row that records it, so a failed
migration leaves nothing behind. A session advisory lock makes concurrent runs (two
pods starting `agentobs migrate` at once) apply every file exactly once.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib import resources

import asyncpg

logger = logging.getLogger(__name__)

# An arbitrary constant shared by every process that migrates this database.
MIGRATION_LOCK_KEY = 0x6167656E746F6273
_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    sha256     text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True)
class Migration:
    """One SQL file: its version number, name, text and checksum."""

    version: int
    name: str
    sql: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations() -> list[Migration]:
    """Read the migration files shipped with the package, sorted by version."""
    folder = resources.files("agentobs").joinpath("migrations")
    found = []
    for entry in folder.iterdir():
        match = _FILE_NAME.match(entry.name)
        if match is None:
            continue
        found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda migration: migration.version)
    return found


def latest_version() -> int:
    """Return the version of the newest migration shipped with this release."""
    return max(migration.version for migration in load_migrations())


async def applied_version(connection: asyncpg.Connection) -> int:
    """Return the newest applied migration version, or 0 on an empty database."""
    exists = await connection.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return 0
    version = await connection.fetchval("SELECT max(version) FROM schema_migrations")
    return int(version or 0)


async def migrate(connection: asyncpg.Connection) -> list[str]:
    """Apply every migration not yet recorded; return the names of those applied."""
    await connection.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
    try:
        await connection.execute(_CREATE_TABLE)
        recorded = {
            row["version"]: row["sha256"]
            for row in await connection.fetch("SELECT version, sha256 FROM schema_migrations")
        }
        applied = []
        for migration in load_migrations():
            if migration.version in recorded:
                if recorded[migration.version] != migration.sha256:
                    logger.warning(
                        "applied migration differs from the shipped file version=%d name=%s",
                        migration.version,
                        migration.name,
                    )
                continue
            async with connection.transaction():
                await connection.execute(migration.sql)
                await connection.execute(
                    "INSERT INTO schema_migrations (version, name, sha256) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.sha256,
                )
            logger.info("applied migration version=%d name=%s", migration.version, migration.name)
            applied.append(f"{migration.version:04d}_{migration.name}")
        return applied
    finally:
        await connection.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
