"""Errors the store raises; the receiver maps each to one HTTP status."""

from __future__ import annotations


class StoreError(Exception):
    """Base of every error the store raises on purpose."""


class StoreUnavailable(StoreError):
    """The database could not be reached or is restarting; retrying later may succeed."""


class ServiceAccountRejected(StoreError):
    """The AgentObservation of the agent names another ServiceAccount than the caller's."""


class TooManyUnregisteredAgents(StoreError):
    """The namespace already has the maximum number of agents without an AgentObservation."""


class CounterOverflow(StoreError):
    """A total would exceed the bigint maximum (2^63-1); nothing was stored."""


class SchemaNotMigrated(StoreError):
    """The database schema is older than this release; run `agentobs migrate`."""
