"""Registrations, tenancy checks, the unregistered-agent cap, migrations and pruning."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import asyncpg
import pytest

from agentobs import protocol
from agentobs.store import (
    Registration,
    ServiceAccountRejected,
    Store,
    TooManyUnregisteredAgents,
)

pytestmark = pytest.mark.postgres


def heartbeat(agent: str, instance: str = "i-1", calls: int = 1) -> protocol.Heartbeat:
    return protocol.Heartbeat.model_validate(
        {
            "namespace": "research",
            "agent": agent,
            "instance": instance,
            "sequence": calls,
            "usage": [{"model": "gpt", "calls": calls, "inputTokens": calls * 10}],
        }
    )


async def test_registry_round_trips(store: Store) -> None:
    await store.register_agent("research", "b", "planner", "planner-sa", 120)
    await store.register_agent("research", "a", "triage")
    await store.register_agent("research", "a", "triage-v2")

    assert await store.registered_agents() == [
        Registration("research", "a", "triage-v2", None, None),
        Registration("research", "b", "planner", "planner-sa", 120),
    ]
    assert await store.unregister_agent("research", "a") is True
    assert await store.unregister_agent("research", "a") is False
    assert [entry.name for entry in await store.registered_agents()] == ["b"]


async def test_usage_reported_before_registration_is_kept(store: Store) -> None:
    await store.record_heartbeat(heartbeat("late", calls=5), service_account=None)
    assert await store.usage_of("research", "late") is None

    await store.register_agent("research", "late", "late")

    usage = await store.usage_of("research", "late")
    assert usage is not None
    assert usage.totals.calls == 5


async def test_unregistering_keeps_totals(store: Store) -> None:
    await store.register_agent("research", "planner", "planner")
    await store.record_heartbeat(heartbeat("planner", calls=3), service_account=None)
    await store.unregister_agent("research", "planner")

    await store.register_agent("research", "planner", "planner")

    usage = await store.usage_of("research", "planner")
    assert usage is not None
    assert usage.totals.calls == 3


async def test_named_service_account_is_enforced(store: Store) -> None:
    await store.register_agent("research", "planner", "planner", service_account="planner-sa")

    with pytest.raises(ServiceAccountRejected):
        await store.record_heartbeat(heartbeat("planner"), service_account="other")
    with pytest.raises(ServiceAccountRejected):
        await store.record_heartbeat(heartbeat("planner"), service_account=None)
    await store.record_heartbeat(heartbeat("planner"), service_account="planner-sa")
    await store.record_heartbeat(
        heartbeat("planner", calls=2), service_account=None, check_service_account=False
    )

    usage = await store.usage_of("research", "planner")
    assert usage is not None
    assert usage.totals.calls == 2


async def test_unregistered_agents_are_capped_per_namespace(database_dsn: str) -> None:
    store = await Store.connect(database_dsn, max_unregistered_agents=2)
    try:
        await store.migrate()
        await store.register_agent("research", "known", "known")
        await store.record_heartbeat(heartbeat("known"), service_account=None)
        await store.record_heartbeat(heartbeat("stray-1"), service_account=None)
        await store.record_heartbeat(heartbeat("stray-2"), service_account=None)

        with pytest.raises(TooManyUnregisteredAgents):
            await store.record_heartbeat(heartbeat("stray-3"), service_account=None)
        await store.record_heartbeat(heartbeat("stray-2", calls=2), service_account=None)
        await store.register_agent("research", "stray-1", "stray-1")
        await store.record_heartbeat(heartbeat("stray-3"), service_account=None)
    finally:
        await store.close()


async def test_concurrent_new_agents_respect_the_cap(database_dsn: str) -> None:
    store = await Store.connect(database_dsn, max_unregistered_agents=3, pool_size=10)
    try:
        await store.migrate()
        outcomes = await asyncio.gather(
            *(
                store.record_heartbeat(heartbeat(f"stray-{index}"), service_account=None)
                for index in range(10)
            ),
            return_exceptions=True,
        )
    finally:
        await store.close()

    assert sum(outcome is None for outcome in outcomes) == 3
    assert all(
        outcome is None or isinstance(outcome, TooManyUnregisteredAgents) for outcome in outcomes
    )


async def test_concurrent_migrations_apply_each_file_once(database_dsn: str) -> None:
    stores = [await Store.connect(database_dsn) for _ in range(3)]
    try:
        applied = await asyncio.gather(*(store.migrate() for store in stores))
    finally:
        for store in stores:
            await store.close()

    assert sorted(len(names) for names in applied) == [0, 0, 1]
    connection = await asyncpg.connect(database_dsn)
    try:
        assert await connection.fetchval("SELECT count(*) FROM schema_migrations") == 1
    finally:
        await connection.close()


async def test_pruning_removes_old_samples_and_keeps_totals(store: Store) -> None:
    await store.register_agent("research", "planner", "planner")
    await store.record_heartbeat(heartbeat("planner", calls=4), service_account=None)
    async with store._connection() as connection:
        await connection.execute("UPDATE usage_samples SET minute = minute - interval '3 days'")
    await store.record_heartbeat(heartbeat("planner", "i-2", calls=1), service_account=None)

    deleted = await store.prune_samples(timedelta(days=2))

    usage = await store.usage_of("research", "planner")
    assert deleted == 1
    assert usage is not None
    assert usage.totals.calls == 5
    assert usage.last_day.calls == 1
    assert usage.last_hour.calls == 1
