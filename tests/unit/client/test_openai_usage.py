"""OpenAI integration on real-shaped chat completions and Responses API responses.

The shapes follow the OpenAI API reference. The same responses are given as
dicts (parsed JSON) and as objects with attribute access, as the SDK returns.
"""

from __future__ import annotations

import logging
import types
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from agentobs_client import TokenCounts, UsageLedger
from agentobs_client.integrations.openai import (
    ChatCompletionStreamRecorder,
    ResponseStreamRecorder,
    record_chat_completion,
    record_response,
)
from agentobs_client.testing import assert_usage

CHAT_COMPLETION: dict[str, Any] = {
    "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
    "object": "chat.completion",
    "created": 1741570283,
    "model": "gpt-4o-2024-08-06",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "The image shows a boardwalk."},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 1117,
        "completion_tokens": 46,
        "total_tokens": 1163,
        "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    },
    "service_tier": "default",
    "system_fingerprint": "fp_fc9f1d7035",
}

REASONING_COMPLETION: dict[str, Any] = {
    **CHAT_COMPLETION,
    "model": "o3-mini-2025-01-31",
    "usage": {
        "prompt_tokens": 75,
        "completion_tokens": 1186,
        "total_tokens": 1261,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 1024, "audio_tokens": 0},
    },
}

RESPONSE: dict[str, Any] = {
    "id": "resp_67ccd3a9da748190baa7f1570fe91ac604becb25c45c1d41",
    "object": "response",
    "created_at": 1741476777,
    "status": "completed",
    "model": "o4-mini-2025-04-16",
    "output": [
        {
            "type": "message",
            "id": "msg_67ccd3acc8d48190a77525dc6de64b4104becb25c45c1d41",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "A unicorn.", "annotations": []}],
        }
    ],
    "usage": {
        "input_tokens": 2328,
        "input_tokens_details": {"cached_tokens": 2048},
        "output_tokens": 1035,
        "output_tokens_details": {"reasoning_tokens": 960},
        "total_tokens": 3363,
    },
}


def as_object(value: Any) -> Any:
    """The same data with attribute access, as the SDK's response objects have."""
    if isinstance(value, dict):
        return types.SimpleNamespace(**{key: as_object(item) for key, item in value.items()})
    if isinstance(value, list):
        return [as_object(item) for item in value]
    return value


def chat_chunks(*, include_usage: bool) -> list[dict[str, Any]]:
    """A streamed chat completion; the last chunk has usage only with include_usage."""
    base = {
        "id": "chatcmpl-123",
        "object": "chat.completion.chunk",
        "created": 1694268190,
        "model": "gpt-4o-mini-2024-07-18",
        "system_fingerprint": "fp_44709d6fcb",
    }
    chunks: list[dict[str, Any]] = [
        {
            **base,
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}],
            "usage": None,
        },
        {**base, "choices": [{"index": 0, "delta": {"content": "Hello"}}], "usage": None},
        {
            **base,
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            "usage": None,
        },
    ]
    if include_usage:
        chunks.append(
            {
                **base,
                "choices": [],
                "usage": {
                    "prompt_tokens": 19,
                    "completion_tokens": 10,
                    "total_tokens": 29,
                    "prompt_tokens_details": {"cached_tokens": 0},
                    "completion_tokens_details": {"reasoning_tokens": 0},
                },
            }
        )
    else:
        for chunk in chunks:
            del chunk["usage"]
    return chunks


def response_events() -> list[dict[str, Any]]:
    """A streamed Responses API response, with usage only in the completed event."""
    in_progress = {**RESPONSE, "status": "in_progress", "output": [], "usage": None}
    return [
        {"type": "response.created", "sequence_number": 0, "response": in_progress},
        {"type": "response.in_progress", "sequence_number": 1, "response": in_progress},
        {
            "type": "response.output_text.delta",
            "sequence_number": 2,
            "item_id": "msg_1",
            "output_index": 0,
            "content_index": 0,
            "delta": "A unicorn.",
        },
        {"type": "response.completed", "sequence_number": 3, "response": RESPONSE},
    ]


SHAPES: list[Callable[[Any], Any]] = [lambda value: value, as_object]
SHAPE_IDS = ["dict", "object"]


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_chat_completion_records_cached_input(shape: Callable[[Any], Any]) -> None:
    ledger = UsageLedger()

    record_chat_completion(ledger, shape(CHAT_COMPLETION))

    assert ledger.snapshot().models["gpt-4o-2024-08-06"] == TokenCounts(
        input_tokens=1117, output_tokens=46, cache_read_tokens=1024, calls=1
    )


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_chat_completion_records_reasoning(shape: Callable[[Any], Any]) -> None:
    ledger = UsageLedger()

    record_chat_completion(ledger, shape(REASONING_COMPLETION))

    assert ledger.snapshot().models["o3-mini-2025-01-31"] == TokenCounts(
        input_tokens=75, output_tokens=1186, reasoning_tokens=1024, calls=1
    )


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_responses_api_records_cache_and_reasoning(shape: Callable[[Any], Any]) -> None:
    ledger = UsageLedger()

    record_response(ledger, shape(RESPONSE))

    assert ledger.snapshot().models["o4-mini-2025-04-16"] == TokenCounts(
        input_tokens=2328,
        output_tokens=1035,
        cache_read_tokens=2048,
        reasoning_tokens=960,
        calls=1,
    )


def test_usage_without_details_records_totals_only() -> None:
    ledger = UsageLedger()
    completion = {
        **CHAT_COMPLETION,
        "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
    }

    record_chat_completion(ledger, completion)

    assert_usage(ledger, model="gpt-4o-2024-08-06", input_tokens=12, output_tokens=3, calls=1)


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_completion_without_usage_is_unreported(shape: Callable[[Any], Any]) -> None:
    ledger = UsageLedger()
    completion = {key: value for key, value in CHAT_COMPLETION.items() if key != "usage"}

    record_chat_completion(ledger, shape(completion))

    assert ledger.snapshot().models["gpt-4o-2024-08-06"] == TokenCounts(unreported_calls=1)


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_stream_with_include_usage_records_last_chunk(shape: Callable[[Any], Any]) -> None:
    ledger = UsageLedger()
    recorder = ChatCompletionStreamRecorder(ledger)

    chunks = list(recorder.wrap(shape(chat_chunks(include_usage=True))))

    assert len(chunks) == 4
    assert ledger.snapshot().models["gpt-4o-mini-2024-07-18"] == TokenCounts(
        input_tokens=19, output_tokens=10, calls=1
    )


def test_stream_without_include_usage_is_unreported() -> None:
    ledger = UsageLedger()
    recorder = ChatCompletionStreamRecorder(ledger)

    for chunk in chat_chunks(include_usage=False):
        recorder.add(chunk)
    recorder.finish()
    recorder.finish()

    assert ledger.snapshot().models["gpt-4o-mini-2024-07-18"] == TokenCounts(unreported_calls=1)


def test_abandoned_stream_is_recorded_once() -> None:
    ledger = UsageLedger()
    recorder = ChatCompletionStreamRecorder(ledger)

    stream = recorder.wrap(chat_chunks(include_usage=True))
    next(stream)
    stream.close()

    assert_usage(ledger, calls=0, unreported_calls=1)


async def test_async_stream_records_last_chunk() -> None:
    ledger = UsageLedger()
    recorder = ChatCompletionStreamRecorder(ledger)

    async def stream() -> AsyncIterator[dict[str, Any]]:
        for chunk in chat_chunks(include_usage=True):
            yield chunk

    chunks = [chunk async for chunk in recorder.awrap(stream())]

    assert len(chunks) == 4
    assert_usage(ledger, model="gpt-4o-mini-2024-07-18", input_tokens=19, calls=1)


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_response_stream_records_the_completed_event(shape: Callable[[Any], Any]) -> None:
    ledger = UsageLedger()
    recorder = ResponseStreamRecorder(ledger)

    for event in recorder.wrap(shape(response_events())):
        assert event is not None

    assert ledger.snapshot().models["o4-mini-2025-04-16"] == TokenCounts(
        input_tokens=2328,
        output_tokens=1035,
        cache_read_tokens=2048,
        reasoning_tokens=960,
        calls=1,
    )


def test_response_stream_without_completion_is_unreported() -> None:
    ledger = UsageLedger()
    recorder = ResponseStreamRecorder(ledger)

    for event in recorder.wrap(response_events()[:3]):
        assert event is not None

    assert ledger.snapshot().models["o4-mini-2025-04-16"] == TokenCounts(unreported_calls=1)


@pytest.mark.parametrize(
    ("usage", "kind"),
    [
        ({"prompt_tokens": -1, "completion_tokens": 5}, "invalid_count"),
        ({"prompt_tokens": 10.0, "completion_tokens": 5}, "invalid_count"),
        ({"prompt_tokens": "10", "completion_tokens": 5}, "invalid_count"),
        ({"completion_tokens": 5}, "missing_count"),
        (
            {
                "prompt_tokens": 10,
                "completion_tokens": 5,
                "prompt_tokens_details": {"cached_tokens": 20},
            },
            "rejected_by_ledger",
        ),
    ],
)
def test_malformed_usage_is_skipped_and_counted(
    usage: dict[str, Any], kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="agentobs_client")
    ledger = UsageLedger()

    record_chat_completion(ledger, {**CHAT_COMPLETION, "usage": usage})
    record_chat_completion(ledger, {**CHAT_COMPLETION, "usage": usage})

    snapshot = ledger.snapshot()
    assert snapshot.skipped_records == 2
    assert snapshot.models == {}
    logged = [record for record in caplog.records if f"kind={kind}" in record.getMessage()]
    assert len(logged) == 1


def test_malformed_usage_is_logged_once_per_kind(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="agentobs_client")
    ledger = UsageLedger()
    completion = {**CHAT_COMPLETION, "model": "", "usage": {"prompt_tokens": 1}}

    for _ in range(3):
        record_chat_completion(ledger, completion)

    assert ledger.snapshot().skipped_records == 3
    logged = [r for r in caplog.records if "kind=missing_model" in r.getMessage()]
    assert len(logged) == 1


def test_fallback_model_names_a_response_without_model() -> None:
    ledger = UsageLedger()
    completion = {key: value for key, value in CHAT_COMPLETION.items() if key != "model"}

    record_chat_completion(ledger, completion, model="my-deployment")

    assert_usage(ledger, model="my-deployment", input_tokens=1117, calls=1)


def test_response_that_is_not_a_response_is_skipped() -> None:
    ledger = UsageLedger()

    record_chat_completion(ledger, None)
    record_response(ledger, 42)
    record_response(ledger, {"model": "gpt-4o", "usage": "lots"})

    assert ledger.snapshot().skipped_records == 3
    assert ledger.snapshot().models == {}
