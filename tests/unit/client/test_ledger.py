"""UsageLedger: exact counters under threads, immutable snapshots, argument checks."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from typing import Any

import pytest

from agentobs_client import MAX_COUNT, TokenCounts, UsageLedger

THREADS = 8
RECORDS_PER_THREAD = 100_000


def test_concurrent_records_give_exact_totals() -> None:
    ledger = UsageLedger()
    start = threading.Barrier(THREADS)

    def work(index: int) -> None:
        model = f"model-{index % 2}"
        start.wait()
        for _ in range(RECORDS_PER_THREAD):
            ledger.record(
                model,
                input_tokens=7,
                output_tokens=3,
                cache_read_tokens=2,
                cache_write_tokens=1,
                reasoning_tokens=1,
            )

    threads = [threading.Thread(target=work, args=(index,)) for index in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    calls = THREADS * RECORDS_PER_THREAD
    snapshot = ledger.snapshot()
    assert snapshot.totals == TokenCounts(
        input_tokens=7 * calls,
        output_tokens=3 * calls,
        cache_read_tokens=2 * calls,
        cache_write_tokens=calls,
        reasoning_tokens=calls,
        calls=calls,
    )
    assert snapshot.models["model-0"].calls == calls // 2
    assert snapshot.models["model-1"].calls == calls // 2


async def test_records_from_asyncio_tasks_are_exact() -> None:
    ledger = UsageLedger()

    async def agent_step() -> None:
        for _ in range(100):
            ledger.record("gpt-4o", input_tokens=5, output_tokens=1)
            await asyncio.sleep(0)

    await asyncio.gather(*(agent_step() for _ in range(20)))

    assert ledger.snapshot().totals.input_tokens == 5 * 100 * 20
    assert ledger.snapshot().totals.calls == 100 * 20


def test_snapshot_is_unchanged_by_later_records() -> None:
    ledger = UsageLedger()
    ledger.record("gpt-4o", input_tokens=10, output_tokens=2)
    snapshot = ledger.snapshot()

    ledger.record("gpt-4o", input_tokens=5, output_tokens=1)
    ledger.record("claude-sonnet-4-5", input_tokens=3)
    ledger.record_unreported("gpt-4o")
    ledger.record_skipped()

    assert dict(snapshot.models) == {
        "gpt-4o": TokenCounts(input_tokens=10, output_tokens=2, calls=1)
    }
    assert snapshot.totals == TokenCounts(input_tokens=10, output_tokens=2, calls=1)
    assert snapshot.skipped_records == 0


def test_snapshot_cannot_be_modified() -> None:
    ledger = UsageLedger()
    ledger.record("gpt-4o", input_tokens=10)
    snapshot = ledger.snapshot()

    with pytest.raises(TypeError):
        snapshot.models["gpt-4o"] = TokenCounts()  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        snapshot.totals.input_tokens = 0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        snapshot.skipped_records = 5  # type: ignore[misc]


def test_totals_sum_every_model() -> None:
    ledger = UsageLedger()
    ledger.record("gpt-4o", input_tokens=100, output_tokens=10, cache_read_tokens=40)
    ledger.record("claude-sonnet-4-5", input_tokens=50, output_tokens=5, cache_write_tokens=20)
    ledger.record_unreported("claude-sonnet-4-5", calls=2)

    totals = ledger.snapshot().totals

    assert totals == TokenCounts(
        input_tokens=150,
        output_tokens=15,
        cache_read_tokens=40,
        cache_write_tokens=20,
        calls=2,
        unreported_calls=2,
    )
    assert totals.total_tokens == 165


def test_unreported_call_counts_no_tokens() -> None:
    ledger = UsageLedger()

    ledger.record_unreported("gpt-4o")

    assert ledger.snapshot().models["gpt-4o"] == TokenCounts(unreported_calls=1)


def test_skipped_records_accumulate() -> None:
    ledger = UsageLedger()

    ledger.record_skipped()
    ledger.record_skipped(3)

    assert ledger.snapshot().skipped_records == 4
    assert ledger.snapshot().models == {}


def test_empty_ledger_has_zero_totals() -> None:
    snapshot = UsageLedger().snapshot()

    assert snapshot.totals == TokenCounts()
    assert snapshot.models == {}


@pytest.mark.parametrize(
    ("arguments", "error", "field"),
    [
        ({"input_tokens": -1}, ValueError, "input_tokens"),
        ({"output_tokens": 1.0}, TypeError, "output_tokens"),
        ({"input_tokens": True}, TypeError, "input_tokens"),
        ({"cache_read_tokens": "3"}, TypeError, "cache_read_tokens"),
        ({"calls": -2}, ValueError, "calls"),
        ({"calls": None}, TypeError, "calls"),
        ({"reasoning_tokens": MAX_COUNT + 1}, ValueError, "reasoning_tokens"),
        ({"input_tokens": 5, "cache_read_tokens": 6}, ValueError, "cache_read_tokens"),
        ({"input_tokens": 5, "cache_write_tokens": 6}, ValueError, "cache_write_tokens"),
        ({"output_tokens": 1, "reasoning_tokens": 2}, ValueError, "reasoning_tokens"),
    ],
)
def test_invalid_count_is_rejected_by_name(
    arguments: dict[str, Any], error: type[Exception], field: str
) -> None:
    ledger = UsageLedger()

    with pytest.raises(error, match=field):
        ledger.record("gpt-4o", **arguments)

    assert ledger.snapshot().models == {}


@pytest.mark.parametrize(
    ("model", "error", "message"),
    [
        ("", ValueError, "must not be empty"),
        ("m" * 201, ValueError, "at most 200"),
        ("gpt\n4o", ValueError, "printable"),
        ("gpt\x7f", ValueError, "printable"),
        ("model-\U0001f600", ValueError, "printable"),
        (None, TypeError, "model must be a str"),
        (b"gpt-4o", TypeError, "model must be a str"),
    ],
)
def test_invalid_model_name_is_rejected(model: Any, error: type[Exception], message: str) -> None:
    ledger = UsageLedger()

    with pytest.raises(error, match=message):
        ledger.record(model, input_tokens=1)
    with pytest.raises(error, match=message):
        ledger.record_unreported(model)

    assert ledger.snapshot().models == {}


def test_longest_valid_model_name_is_accepted() -> None:
    ledger = UsageLedger()

    ledger.record("m" * 200, input_tokens=1)
    ledger.record("modèle-été", input_tokens=1)

    assert set(ledger.snapshot().models) == {"m" * 200, "modèle-été"}


def test_rejected_record_changes_nothing() -> None:
    ledger = UsageLedger()
    ledger.record("gpt-4o", input_tokens=10, output_tokens=1)
    before = ledger.snapshot()

    with pytest.raises(ValueError, match="reasoning_tokens"):
        ledger.record("gpt-4o", input_tokens=10, output_tokens=1, reasoning_tokens=5)

    assert ledger.snapshot() == before


def test_counter_overflow_is_rejected() -> None:
    ledger = UsageLedger()
    ledger.record("gpt-4o", input_tokens=MAX_COUNT)
    before = ledger.snapshot()

    with pytest.raises(ValueError, match="would exceed"):
        ledger.record("gpt-4o", input_tokens=1)

    assert ledger.snapshot() == before


def test_model_limit_rejects_new_models_only() -> None:
    ledger = UsageLedger(max_models=2)
    ledger.record("a", input_tokens=1)
    ledger.record("b", input_tokens=1)

    with pytest.raises(ValueError, match="max_models"):
        ledger.record("c", input_tokens=1)
    ledger.record("a", input_tokens=1)

    assert set(ledger.snapshot().models) == {"a", "b"}
    assert ledger.snapshot().models["a"].input_tokens == 2


@pytest.mark.parametrize("count", [-1, 1.5, True])
def test_invalid_skipped_count_is_rejected(count: Any) -> None:
    ledger = UsageLedger()

    with pytest.raises((TypeError, ValueError), match="count"):
        ledger.record_skipped(count)

    assert ledger.snapshot().skipped_records == 0


@pytest.mark.parametrize("max_models", [0, -1, 2.0, True])
def test_invalid_model_limit_is_rejected(max_models: Any) -> None:
    with pytest.raises(ValueError, match="max_models"):
        UsageLedger(max_models=max_models)
