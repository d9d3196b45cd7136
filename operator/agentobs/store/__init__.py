"""The Postgres store: the single source of truth for every token total.

`Store` is the only entry point. Schema changes are plain SQL files in
`agentobs/migrations/`, applied by `Store.migrate()`.
"""

from agentobs.store.errors import (
    CounterOverflow,
    SchemaNotMigrated,
    ServiceAccountRejected,
    StoreError,
    StoreUnavailable,
    TooManyUnregisteredAgents,
)
from agentobs.store.postgres import Registration, Store

__all__ = [
    "CounterOverflow",
    "Registration",
    "SchemaNotMigrated",
    "ServiceAccountRejected",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "TooManyUnregisteredAgents",
]
