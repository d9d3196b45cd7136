"""The store's entry point: a pool of asyncpg connections and every operation on it.

Writes of heartbeats go through the `record_heartbeat` SQL function (see the first
migration), one call per heartbeat: one round trip and one transaction that stores
the instance's maxima, the agent's totals and samples, and sends
`NOTIFY agentobs_usage, '<namespace>/<agent>'`.

Connection failures, restarts and overload of Postgres raise `StoreUnavailable`. The
pool opens connections lazily and replaces broken ones, so the store recovers by
itself once the database is back.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from agentobs import protocol
from agentobs.store import errors, migrations, reads

logger = logging.getLogger(__name__)

# SQLSTATE classes that mean "try again later": connection exceptions, insufficient
# resources, operator intervention (shutdown, restart) and transaction rollbacks
# (serialization failure, deadlock).
_UNAVAILABLE_CLASSES = frozenset({"08", "53", "57", "40"})
_READ_ONLY_TRANSACTION = "25006"  # a replica promoted too late during a failover
_NUMERIC_OUT_OF_RANGE = "22003"
_SERVICE_ACCOUNT_REJECTED = "AOB01"
_TOO_MANY_UNREGISTERED = "AOB02"

_RECORD_HEARTBEAT = (
    "SELECT record_heartbeat($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,"
    " $15, $16, $17, $18)"
)


@dataclass(frozen=True)
class Registration:
    """A registered AgentObservation: its agent and the ServiceAccount allowed to report."""

    namespace: str
    name: str
    agent: str
    service_account: str | None
    stale_after_seconds: int | None


@contextlib.contextmanager
def _translated_errors() -> Iterator[None]:
    """Turn asyncpg and socket errors into the store's own errors, cause chained."""
    try:
        yield
    except asyncpg.PostgresError as error:
        state = error.sqlstate or ""
        if state == _SERVICE_ACCOUNT_REJECTED:
            raise errors.ServiceAccountRejected(str(error)) from error
        if state == _TOO_MANY_UNREGISTERED:
            raise errors.TooManyUnregisteredAgents(str(error)) from error
        if state == _NUMERIC_OUT_OF_RANGE:
            raise errors.CounterOverflow(str(error)) from error
        if state[:2] in _UNAVAILABLE_CLASSES or state == _READ_ONLY_TRANSACTION:
            raise errors.StoreUnavailable(f"database error {state}: {error}") from error
        raise
    except (asyncpg.InterfaceError, asyncpg.InternalClientError, OSError, TimeoutError) as error:
        raise errors.StoreUnavailable(
            f"database unreachable: {type(error).__name__}: {error}"
        ) from error


class Store:
    """Token usage in Postgres: heartbeats in, totals and registrations out.

    Create it with `await Store.connect(dsn)` and close it with `await store.close()`.
    Every method may raise `StoreUnavailable`.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        max_unregistered_agents: int = 100,
        active_window: timedelta = timedelta(minutes=5),
    ) -> None:
        self._pool = pool
        self.max_unregistered_agents = max_unregistered_agents
        self.active_window = active_window

    @classmethod
    async def connect(
        cls,
        dsn: str,
        *,
        pool_size: int = 10,
        query_timeout: float = 5.0,
        max_unregistered_agents: int = 100,
        active_window: timedelta = timedelta(minutes=5),
    ) -> Store:
        """Create a store with a lazily connecting pool; the database may still be down."""
        pool = await asyncpg.create_pool(
            dsn,
            min_size=0,
            max_size=pool_size,
            timeout=query_timeout,
            command_timeout=query_timeout,
        )
        return cls(
            pool, max_unregistered_agents=max_unregistered_agents, active_window=active_window
        )

    async def close(self) -> None:
        """Wait for borrowed connections to come back, then close the pool."""
        await self._pool.close()

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[asyncpg.Connection]:
        with _translated_errors():
            async with self._pool.acquire() as connection:
                try:
                    yield connection
                except asyncpg.InternalClientError:
                    # A connection whose server went away mid-query can be left in a
                    # state where every later query fails with "cannot switch to state"
                    # (https://github.com/MagicStack/asyncpg/issues/1069). Terminating
                    # it makes the pool open a new one.
                    connection.terminate()
                    raise

    # Schema

    async def migrate(self) -> list[str]:
        """Apply pending migrations (safe to run from several processes at once)."""
        async with self._connection() as connection:
            return await migrations.migrate(connection)

    async def check_ready(self) -> None:
        """Raise unless the database is reachable and its schema is at this release's version."""
        async with self._connection() as connection:
            version = await migrations.applied_version(connection)
        if version < migrations.latest_version():
            raise errors.SchemaNotMigrated(
                f"database schema is at version {version}, this release needs "
                f"{migrations.latest_version()}; run `agentobs migrate`"
            )

    # Heartbeats

    async def record_heartbeat(
        self,
        heartbeat: protocol.Heartbeat,
        *,
        service_account: str | None,
        check_service_account: bool = True,
    ) -> None:
        """Store one heartbeat: raise each per-instance maximum and the agent's totals.

        `service_account` is the caller's ServiceAccount name in the heartbeat's
        namespace (None for a static token without one). With `check_service_account`,
        an agent whose AgentObservation names a ServiceAccount accepts only that one
        (`ServiceAccountRejected`). A new agent without an AgentObservation raises
        `TooManyUnregisteredAgents` once its namespace has `max_unregistered_agents`.
        Repeating a heartbeat, or sending an older one, changes no count.
        """
        usage = heartbeat.usage
        async with self._connection() as connection:
            await connection.execute(
                _RECORD_HEARTBEAT,
                heartbeat.namespace,
                heartbeat.agent,
                heartbeat.instance,
                heartbeat.sequence,
                heartbeat.started_at,
                heartbeat.final,
                heartbeat.skipped_records,
                [entry.model for entry in usage],
                [entry.input_tokens for entry in usage],
                [entry.output_tokens for entry in usage],
                [entry.cache_read_tokens for entry in usage],
                [entry.cache_write_tokens for entry in usage],
                [entry.reasoning_tokens for entry in usage],
                [entry.calls for entry in usage],
                [entry.unreported_calls for entry in usage],
                service_account,
                check_service_account,
                self.max_unregistered_agents,
            )

    # Registry of AgentObservations

    async def register_agent(
        self,
        namespace: str,
        name: str,
        agent: str,
        service_account: str | None = None,
        stale_after_seconds: int | None = None,
    ) -> None:
        """Add or update the AgentObservation `namespace/name`, which observes `agent`.

        Usage the agent reported before the object existed is kept and shows at once.
        """
        if stale_after_seconds is not None and stale_after_seconds <= 0:
            raise ValueError(
                f"stale_after_seconds must be positive or None, received {stale_after_seconds}"
            )
        async with self._connection() as connection:
            await connection.execute(
                """
                INSERT INTO registered_agents AS a
                       (namespace, name, agent, service_account, stale_after_seconds)
                VALUES ($1, $2, $3, $4, $5)
                ON CONFLICT (namespace, name) DO UPDATE
                   SET agent = excluded.agent,
                       service_account = excluded.service_account,
                       stale_after_seconds = excluded.stale_after_seconds
                """,
                namespace,
                name,
                agent,
                service_account,
                stale_after_seconds,
            )

    async def unregister_agent(self, namespace: str, name: str) -> bool:
        """Remove the AgentObservation `namespace/name`; return whether it was registered.

        The agent's usage stays in the store.
        """
        async with self._connection() as connection:
            status = await connection.execute(
                "DELETE FROM registered_agents WHERE namespace = $1 AND name = $2",
                namespace,
                name,
            )
        return bool(status != "DELETE 0")

    async def registered_agents(self) -> list[Registration]:
        """Return every registered AgentObservation, sorted by namespace and name."""
        async with self._connection() as connection:
            rows = await connection.fetch(
                "SELECT namespace, name, agent, service_account, stale_after_seconds"
                " FROM registered_agents ORDER BY namespace, name"
            )
        return [Registration(**dict(row)) for row in rows]

    # Usage

    async def usage_of(self, namespace: str, name: str) -> protocol.AgentUsage | None:
        """Return the usage of the agent that AgentObservation `namespace/name` observes.

        Returns None when no such AgentObservation is registered.
        """
        found = await self._read(namespace=namespace, name=name)
        return found[0] if found else None

    async def namespace_usage(self, namespace: str) -> list[protocol.AgentUsage]:
        """Return the usage of every registered AgentObservation in `namespace`."""
        return await self._read(namespace=namespace, name=None)

    async def registered_usage(self) -> list[protocol.AgentUsage]:
        """Return the usage of every registered AgentObservation in every namespace.

        Each entry has the totals, per-model totals, last heartbeat time, active
        instances (not final and heard from within the object's stale_after_seconds,
        or the store's active window) and the last hour and day.
        """
        return await self._read(namespace=None, name=None)

    async def _read(self, *, namespace: str | None, name: str | None) -> list[protocol.AgentUsage]:
        async with self._connection() as connection:
            return await reads.read_usage(
                connection,
                namespace=namespace,
                name=name,
                active_window_seconds=self.active_window.total_seconds(),
            )

    # Retention

    async def prune_samples(self, retention: timedelta) -> int:
        """Delete per-minute samples older than `retention`; return how many.

        Totals live in their own table, so pruning never changes them; only windows
        longer than `retention` would lose minutes.
        """
        async with self._connection() as connection:
            status = await connection.execute(
                "DELETE FROM usage_samples WHERE minute < now() - $1::interval", retention
            )
        deleted = int(status.rsplit(" ", 1)[-1])
        if deleted:
            logger.info("pruned usage samples count=%d retention=%s", deleted, retention)
        return deleted
