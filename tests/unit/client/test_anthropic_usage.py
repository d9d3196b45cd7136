"""Anthropic integration on real-shaped messages and message streams.

The shapes follow the Anthropic Messages API reference: `input_tokens`
excludes cache reads and writes, and a stream repeats usage cumulatively.
"""

from __future__ import annotations

import types
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from agentobs_client import TokenCounts, UsageLedger
from agentobs_client.integrations.anthropic import MessageStreamRecorder, record_message
from agentobs_client.testing import assert_usage

MODEL = "claude-sonnet-4-5-20250929"

MESSAGE: dict[str, Any] = {
    "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
    "type": "message",
    "role": "assistant",
    "model": MODEL,
    "content": [{"type": "text", "text": "Hi! My name is Claude."}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 21,
        "cache_creation_input_tokens": 188086,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 188086, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 393,
        "service_tier": "standard",
    },
}

CACHED_MESSAGE: dict[str, Any] = {
    **MESSAGE,
    "usage": {
        "input_tokens": 21,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 188086,
        "output_tokens": 393,
    },
}


def as_object(value: Any) -> Any:
    """The same data with attribute access, as the SDK's response objects have."""
    if isinstance(value, dict):
        return types.SimpleNamespace(**{key: as_object(item) for key, item in value.items()})
    if isinstance(value, list):
        return [as_object(item) for item in value]
    return value


def stream_events(*, delta_repeats_input: bool = False) -> list[dict[str, Any]]:
    """A streamed message: usage in message_start, then cumulative message_delta."""
    start_usage = {
        "input_tokens": 472,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 2048,
        "output_tokens": 2,
    }
    delta_usage: dict[str, Any] = {"output_tokens": 89}
    if delta_repeats_input:
        delta_usage.update(
            input_tokens=472, cache_creation_input_tokens=0, cache_read_input_tokens=2048
        )
    return [
        {
            "type": "message_start",
            "message": {
                "id": "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY",
                "type": "message",
                "role": "assistant",
                "content": [],
                "model": MODEL,
                "stop_reason": None,
                "stop_sequence": None,
                "usage": start_usage,
            },
        },
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "ping"},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn"},
            "usage": {"output_tokens": 40},
        },
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": delta_usage,
        },
        {"type": "message_stop"},
    ]


SHAPES: list[Callable[[Any], Any]] = [lambda value: value, as_object]
SHAPE_IDS = ["dict", "object"]

STREAMED = TokenCounts(input_tokens=472 + 2048, output_tokens=89, cache_read_tokens=2048, calls=1)


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_cache_writes_are_added_to_input(shape: Callable[[Any], Any]) -> None:
    ledger = UsageLedger()

    record_message(ledger, shape(MESSAGE))

    assert ledger.snapshot().models[MODEL] == TokenCounts(
        input_tokens=21 + 188086, output_tokens=393, cache_write_tokens=188086, calls=1
    )


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_cache_reads_are_added_to_input(shape: Callable[[Any], Any]) -> None:
    ledger = UsageLedger()

    record_message(ledger, shape(CACHED_MESSAGE))

    assert ledger.snapshot().models[MODEL] == TokenCounts(
        input_tokens=21 + 188086, output_tokens=393, cache_read_tokens=188086, calls=1
    )


def test_null_cache_counts_are_zero() -> None:
    ledger = UsageLedger()
    message = {
        **MESSAGE,
        "usage": {
            "input_tokens": 10,
            "output_tokens": 5,
            "cache_creation_input_tokens": None,
            "cache_read_input_tokens": None,
        },
    }

    record_message(ledger, message)

    assert ledger.snapshot().models[MODEL] == TokenCounts(input_tokens=10, output_tokens=5, calls=1)


def test_message_without_usage_is_unreported() -> None:
    ledger = UsageLedger()

    record_message(ledger, {key: value for key, value in MESSAGE.items() if key != "usage"})

    assert ledger.snapshot().models[MODEL] == TokenCounts(unreported_calls=1)


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_stream_is_recorded_once_with_final_counts(shape: Callable[[Any], Any]) -> None:
    ledger = UsageLedger()
    recorder = MessageStreamRecorder(ledger)

    events = list(recorder.wrap(shape(stream_events())))

    assert len(events) == 8
    assert ledger.snapshot().models[MODEL] == STREAMED


def test_stream_whose_delta_repeats_input_is_not_doubled() -> None:
    ledger = UsageLedger()
    recorder = MessageStreamRecorder(ledger)

    for event in stream_events(delta_repeats_input=True):
        recorder.add(event)

    assert ledger.snapshot().models[MODEL] == STREAMED


def test_message_stop_records_before_the_stream_ends() -> None:
    ledger = UsageLedger()
    recorder = MessageStreamRecorder(ledger)

    for event in stream_events():
        recorder.add(event)
    assert ledger.snapshot().models[MODEL] == STREAMED
    recorder.finish()

    assert ledger.snapshot().models[MODEL] == STREAMED


async def test_async_stream_is_recorded_once() -> None:
    ledger = UsageLedger()
    recorder = MessageStreamRecorder(ledger)

    async def stream() -> AsyncIterator[dict[str, Any]]:
        for event in stream_events():
            yield event

    events = [event async for event in recorder.awrap(stream())]

    assert len(events) == 8
    assert ledger.snapshot().models[MODEL] == STREAMED


def test_stream_broken_before_usage_is_unreported() -> None:
    ledger = UsageLedger()
    recorder = MessageStreamRecorder(ledger, model=MODEL)

    def failing() -> Any:
        yield {"type": "ping"}
        raise ConnectionError("stream reset")

    with pytest.raises(ConnectionError):
        for _ in recorder.wrap(failing()):
            pass

    assert ledger.snapshot().models[MODEL] == TokenCounts(unreported_calls=1)


def test_stream_with_malformed_delta_is_skipped() -> None:
    ledger = UsageLedger()
    recorder = MessageStreamRecorder(ledger)
    events = stream_events()
    events[6]["usage"] = {"output_tokens": "many"}

    for event in recorder.wrap(events):
        assert event is not None

    assert_usage(ledger, calls=0, unreported_calls=0, skipped_records=1)


@pytest.mark.parametrize(
    "usage",
    [
        {"input_tokens": 10},
        {"input_tokens": -3, "output_tokens": 1},
        {"input_tokens": 3, "output_tokens": 1, "cache_read_input_tokens": 1.5},
        {"input_tokens": True, "output_tokens": 1},
    ],
)
def test_malformed_usage_is_skipped_and_counted(usage: dict[str, Any]) -> None:
    ledger = UsageLedger()

    record_message(ledger, {**MESSAGE, "usage": usage})

    assert ledger.snapshot().skipped_records == 1
    assert ledger.snapshot().models == {}
