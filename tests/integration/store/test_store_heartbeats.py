"""The store keeps the greatest value of each counter and sums the increases into totals."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import asyncpg
import pytest

from agentobs import protocol
from agentobs.store import CounterOverflow, Store

pytestmark = pytest.mark.postgres


def heartbeat(
    instance: str = "i-1",
    sequence: int = 1,
    *,
    agent: str = "planner",
    namespace: str = "research",
    **models: dict[str, int],
) -> protocol.Heartbeat:
    usage = [{"model": model, **counts} for model, counts in models.items()]
    payload: dict[str, Any] = {
        "namespace": namespace,
        "agent": agent,
        "instance": instance,
        "sequence": sequence,
        "usage": usage,
    }
    return protocol.Heartbeat.model_validate(payload)


async def record(store: Store, beat: protocol.Heartbeat) -> None:
    await store.record_heartbeat(beat, service_account=None)


async def totals(store: Store, name: str = "planner") -> protocol.AgentUsage:
    usage = await store.usage_of("research", name)
    assert usage is not None
    return usage


async def test_repeated_heartbeat_is_not_counted_twice(store: Store) -> None:
    await store.register_agent("research", "planner", "planner")
    beat = heartbeat(gpt={"inputTokens": 100, "outputTokens": 10, "calls": 2})

    for _ in range(3):
        await record(store, beat)

    usage = await totals(store)
    assert usage.totals.input_tokens == 100
    assert usage.totals.output_tokens == 10
    assert usage.totals.total_tokens == 110
    assert usage.totals.calls == 2


async def test_older_heartbeat_after_newer_changes_nothing(store: Store) -> None:
    await store.register_agent("research", "planner", "planner")
    await record(store, heartbeat("i-1", 2, gpt={"inputTokens": 200, "calls": 4}))
    await record(store, heartbeat("i-1", 1, gpt={"inputTokens": 100, "calls": 2}))

    usage = await totals(store)
    assert usage.totals.input_tokens == 200
    assert usage.totals.calls == 4


async def test_each_counter_keeps_its_own_maximum(store: Store) -> None:
    await store.register_agent("research", "planner", "planner")
    await record(store, heartbeat("i-1", 1, gpt={"inputTokens": 300, "outputTokens": 1}))
    await record(store, heartbeat("i-1", 2, gpt={"inputTokens": 100, "outputTokens": 50}))

    usage = await totals(store)
    assert usage.totals.input_tokens == 300
    assert usage.totals.output_tokens == 50


async def test_totals_sum_instances_and_models(store: Store) -> None:
    await store.register_agent("research", "planner", "planner")
    await record(store, heartbeat("i-1", gpt={"inputTokens": 10}, claude={"inputTokens": 5}))
    await record(store, heartbeat("i-2", gpt={"inputTokens": 7, "cacheReadTokens": 3}))

    usage = await totals(store)
    by_model = {model.model: model for model in usage.models}
    assert usage.totals.input_tokens == 22
    assert by_model["gpt"].input_tokens == 17
    assert by_model["gpt"].cache_read_tokens == 3
    assert by_model["claude"].input_tokens == 5


async def test_five_billion_tokens_round_trip_exactly(store: Store) -> None:
    await store.register_agent("research", "planner", "planner")
    await record(store, heartbeat(gpt={"inputTokens": 5_000_000_000, "outputTokens": 1}))

    usage = await totals(store)
    assert usage.totals.input_tokens == 5_000_000_000
    assert usage.totals.total_tokens == 5_000_000_001
    assert usage.last_hour.input_tokens == 5_000_000_000


async def test_largest_count_is_stored_exactly(store: Store) -> None:
    await store.register_agent("research", "planner", "planner")
    await record(store, heartbeat(gpt={"calls": protocol.MAX_COUNT}))

    assert (await totals(store)).totals.calls == protocol.MAX_COUNT


async def test_total_beyond_bigint_raises_and_stores_nothing(
    store: Store, database_dsn: str, table_checksums: Any
) -> None:
    await record(store, heartbeat("i-1", gpt={"calls": protocol.MAX_COUNT}))
    before = await table_checksums(database_dsn)

    with pytest.raises(CounterOverflow):
        await record(store, heartbeat("i-2", gpt={"calls": 1}))

    assert await table_checksums(database_dsn) == before


async def test_heartbeat_without_usage_marks_instance_alive(store: Store) -> None:
    await store.register_agent("research", "planner", "planner")
    await record(store, heartbeat("i-1"))

    usage = await totals(store)
    assert usage.active_instances == 1
    assert usage.last_heartbeat_time is not None
    assert usage.totals.total_tokens == 0
    assert usage.models == ()


async def test_final_heartbeat_ends_instance(store: Store) -> None:
    await store.register_agent("research", "planner", "planner")
    await record(store, heartbeat("i-1"))
    final = heartbeat("i-2").model_copy(update={"final": True})
    await record(store, final)

    assert (await totals(store)).active_instances == 1


async def test_instance_past_stale_window_is_not_active(store: Store) -> None:
    await store.register_agent("research", "planner", "planner", stale_after_seconds=60)
    await record(store, heartbeat("i-1"))
    await record(store, heartbeat("i-2"))
    async with store._connection() as connection:
        await connection.execute(
            "UPDATE instances SET last_heartbeat_at = now() - interval '2 minutes'"
            " WHERE instance = 'i-1'"
        )

    assert (await totals(store)).active_instances == 1


async def test_heartbeat_sends_notification(store: Store, database_dsn: str) -> None:
    received: asyncio.Queue[str] = asyncio.Queue()
    listener = await asyncpg.connect(database_dsn)
    await listener.add_listener(
        "agentobs_usage", lambda _conn, _pid, _channel, payload: received.put_nowait(payload)
    )
    try:
        await record(store, heartbeat(agent="triage-bot", gpt={"calls": 1}))
        payload = await asyncio.wait_for(received.get(), timeout=30)
    finally:
        await listener.close()

    assert payload == "research/triage-bot"


async def test_concurrent_heartbeats_keep_totals_consistent(store: Store) -> None:
    """Totals equal the sum of the per-instance maxima, whatever the interleaving."""
    await store.register_agent("research", "planner", "planner")
    shuffled = random.Random(7)
    beats = [
        heartbeat(
            f"i-{instance}",
            sequence,
            gpt={"inputTokens": sequence * 10, "calls": sequence},
            claude={"outputTokens": sequence * 3},
        )
        for instance in range(4)
        for sequence in range(1, 26)
    ]
    shuffled.shuffle(beats)

    await asyncio.gather(*(record(store, beat) for beat in beats))

    usage = await totals(store)
    assert usage.totals.input_tokens == 4 * 250
    assert usage.totals.output_tokens == 4 * 75
    assert usage.totals.calls == 4 * 25
    assert usage.last_day.input_tokens == 4 * 250
    async with store._connection() as connection:
        summed = await connection.fetchval("SELECT sum(input_tokens) FROM instance_usage")
    assert summed == usage.totals.input_tokens
