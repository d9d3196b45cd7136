"""Leadership of the projector: a Postgres advisory lock held on a dedicated connection.

kopf's peering freezes peers of equal priority instead of electing one, so the
projector elects its leader in the store. The lock lives as long as the session:
when the leader's process dies, Postgres closes the connection and frees the lock,
and a standby takes it within `retry_seconds`. The leader checks its connection
every `check_seconds` and stops projecting as soon as the check fails.

Limitation: the leader's host may be cut off from Postgres but not from the API
server. Postgres then hands the lock to a standby once TCP keepalives expose the
dead connection, and the old leader may go on patching for up to `check_seconds`.
Both write idempotent merge patches of values read from the store, so the overlap
writes the same numbers twice at worst.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import asyncpg

logger = logging.getLogger(__name__)

# "ao-leads" in ASCII, as a bigint: the key of the projector's advisory lock. It must
# differ from the migration lock's key ("agentobs"), which the leader would otherwise
# hold for as long as it leads, blocking every later migration.
LOCK_KEY = int.from_bytes(b"ao-leads", "big")

# Postgres drops a silent peer after about idle + interval * count seconds.
KEEPALIVE_SETTINGS = {
    "tcp_keepalives_idle": "10",
    "tcp_keepalives_interval": "5",
    "tcp_keepalives_count": "3",
}


class LeadershipLost(Exception):
    """The leader's connection to Postgres failed, so its lock may be gone."""


class Leadership:
    """Takes, holds and watches the projector's advisory lock."""

    def __init__(
        self,
        dsn: str,
        *,
        retry_seconds: float,
        check_seconds: float = 1.0,
        on_notify: Callable[[str], None] | None = None,
    ) -> None:
        self._dsn = dsn
        self._retry_seconds = retry_seconds
        self._check_seconds = check_seconds
        self._on_notify = on_notify
        self._connection: Any = None

    async def acquire(self) -> None:
        """Wait until this process holds the lock, retrying on any database failure."""
        waiting_logged = False
        while True:
            try:
                if await self._try_acquire():
                    logger.info("projector leadership acquired")
                    return
                if not waiting_logged:
                    logger.info("projector on standby: another replica has the leader lock")
                    waiting_logged = True
            except (TimeoutError, OSError, asyncpg.PostgresError) as error:
                logger.warning("leader lock not taken, retrying error=%s", error)
                await self._close()
            await asyncio.sleep(self._retry_seconds)

    async def _try_acquire(self) -> bool:
        if self._connection is None or self._connection.is_closed():
            self._connection = await asyncpg.connect(
                self._dsn, timeout=10, server_settings=KEEPALIVE_SETTINGS
            )
        acquired = bool(
            await self._connection.fetchval("SELECT pg_try_advisory_lock($1)", LOCK_KEY, timeout=10)
        )
        if acquired and self._on_notify is not None:
            await self._connection.add_listener("agentobs_usage", self._notified)
        return acquired

    def _notified(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        if self._on_notify is not None:
            self._on_notify(payload)

    async def watch(self) -> None:
        """Return only by raising LeadershipLost, when the lock's connection fails."""
        while True:
            await asyncio.sleep(self._check_seconds)
            try:
                await self._connection.fetchval("SELECT 1", timeout=self._check_seconds * 3)
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                await self._close()
                raise LeadershipLost(str(error)) from error

    async def release(self) -> None:
        """Give the lock up (if held) and close the connection."""
        if self._connection is not None and not self._connection.is_closed():
            try:
                await self._connection.fetchval(
                    "SELECT pg_advisory_unlock($1)", LOCK_KEY, timeout=5
                )
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                logger.debug("leader lock not released explicitly; closing the connection frees it")
        await self._close()

    async def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            connection.terminate()
