"""LangChain integration with langchain-core's own fake chat models.

`GenericFakeChatModel` returns the AIMessages it is given, so each test hands it
messages that carry `usage_metadata` as LangChain's provider packages set it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.outputs import ChatGenerationChunk, LLMResult
from langchain_core.runnables import RunnableLambda

from agentobs_client import TokenCounts, UsageLedger
from agentobs_client.integrations.langchain import UsageCallbackHandler, track_usage
from agentobs_client.testing import assert_usage

USAGE: dict[str, Any] = {
    "input_tokens": 350,
    "output_tokens": 240,
    "total_tokens": 590,
    "input_token_details": {"audio": 0, "cache_creation": 200, "cache_read": 100},
    "output_token_details": {"audio": 0, "reasoning": 200},
}
MESSAGE_USAGE = TokenCounts(
    input_tokens=350,
    output_tokens=240,
    cache_read_tokens=100,
    cache_write_tokens=200,
    reasoning_tokens=200,
    calls=1,
)


def reply(
    model: str | None = "gpt-4o-2024-08-06", usage: dict[str, Any] | None = USAGE
) -> AIMessage:
    """An AIMessage as a provider package returns it."""
    metadata = {"model_name": model} if model else {}
    return AIMessage(content="Paris.", usage_metadata=usage, response_metadata=metadata)


def fake_model(*messages: AIMessage) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=iter(messages))


def test_handler_records_usage_metadata() -> None:
    ledger = UsageLedger()
    model = fake_model(reply())

    model.invoke("Capital of France?", config={"callbacks": [UsageCallbackHandler(ledger)]})

    assert ledger.snapshot().models["gpt-4o-2024-08-06"] == MESSAGE_USAGE


async def test_handler_records_async_calls() -> None:
    ledger = UsageLedger()
    model = fake_model(reply(), reply())
    handler = UsageCallbackHandler(ledger)

    await asyncio.gather(
        model.ainvoke("one", config={"callbacks": [handler]}),
        model.ainvoke("two", config={"callbacks": [handler]}),
    )

    assert_usage(ledger, model="gpt-4o-2024-08-06", calls=2, input_tokens=700)


def test_batch_records_one_call_per_prompt() -> None:
    ledger = UsageLedger()
    model = fake_model(reply(), reply(), reply())

    model.batch(["a", "b", "c"], config={"callbacks": [UsageCallbackHandler(ledger)]})

    assert_usage(ledger, model="gpt-4o-2024-08-06", calls=3, output_tokens=720)


def test_message_without_usage_is_unreported() -> None:
    ledger = UsageLedger()
    model = fake_model(reply(usage=None))

    model.invoke("hi", config={"callbacks": [UsageCallbackHandler(ledger)]})

    assert ledger.snapshot().models["gpt-4o-2024-08-06"] == TokenCounts(unreported_calls=1)


def test_run_metadata_names_the_model() -> None:
    ledger = UsageLedger()
    model = fake_model(reply(model=None))

    model.invoke(
        "hi",
        config={
            "callbacks": [UsageCallbackHandler(ledger)],
            "metadata": {"ls_model_name": "claude-sonnet-4-5"},
        },
    )

    assert ledger.snapshot().models["claude-sonnet-4-5"] == MESSAGE_USAGE


def test_default_model_names_an_anonymous_call() -> None:
    ledger = UsageLedger()
    model = fake_model(reply(model=None), reply(model=None, usage=None))
    handler = UsageCallbackHandler(ledger, default_model="local-llm")

    model.invoke("hi", config={"callbacks": [handler]})
    model.invoke("hi", config={"callbacks": [handler]})

    expected = dataclasses.replace(MESSAGE_USAGE, unreported_calls=1)
    assert ledger.snapshot().models["local-llm"] == expected


def test_call_without_model_or_usage_is_skipped() -> None:
    ledger = UsageLedger()
    model = fake_model(reply(model=None, usage=None))

    model.invoke("hi", config={"callbacks": [UsageCallbackHandler(ledger)]})

    assert_usage(ledger, calls=0, unreported_calls=0, skipped_records=1)


def test_malformed_usage_metadata_is_skipped() -> None:
    ledger = UsageLedger()
    handler = UsageCallbackHandler(ledger)
    message = AIMessageChunk(content="x", response_metadata={"model_name": "gpt-4o"})
    # usage_metadata is typed, so the malformed value is set past validation.
    object.__setattr__(message, "usage_metadata", {"input_tokens": "350", "output_tokens": 1})
    result = LLMResult(generations=[[ChatGenerationChunk(message=message)]])

    handler.on_llm_end(result, run_id=uuid.uuid4())

    assert_usage(ledger, calls=0, skipped_records=1)


def test_streamed_generation_records_aggregated_usage() -> None:
    ledger = UsageLedger()
    handler = UsageCallbackHandler(ledger)
    chunks = [
        AIMessageChunk(
            content="Par",
            usage_metadata={"input_tokens": 350, "output_tokens": 0, "total_tokens": 350},
        ),
        AIMessageChunk(
            content="is.",
            usage_metadata={"input_tokens": 0, "output_tokens": 240, "total_tokens": 240},
            response_metadata={"model_name": "gpt-4o-mini"},
        ),
    ]
    aggregated = chunks[0] + chunks[1]
    result = LLMResult(generations=[[ChatGenerationChunk(message=aggregated)]])

    handler.on_llm_end(result, run_id=uuid.uuid4())

    assert_usage(ledger, model="gpt-4o-mini", input_tokens=350, output_tokens=240, calls=1)


def test_stream_without_usage_is_unreported() -> None:
    ledger = UsageLedger()
    model = fake_model(reply())
    handler = UsageCallbackHandler(ledger, default_model="fake")

    # GenericFakeChatModel streams the text without usage or response metadata.
    text = "".join(
        str(chunk.content) for chunk in model.stream("hi", config={"callbacks": [handler]})
    )

    assert text == "Paris."
    assert ledger.snapshot().models["fake"] == TokenCounts(unreported_calls=1)


def test_failed_call_is_not_counted() -> None:
    ledger = UsageLedger()
    model = fake_model()

    with pytest.raises(StopIteration):
        model.invoke("hi", config={"callbacks": [UsageCallbackHandler(ledger, default_model="x")]})

    assert ledger.snapshot().models == {}


def test_decorated_node_records_its_model_calls() -> None:
    ledger = UsageLedger()
    model = fake_model(reply(), reply())

    @track_usage(ledger)
    def call_model(state: dict[str, str]) -> dict[str, str]:
        answer = model.invoke(state["question"])
        return {"answer": str(answer.content)}

    graph_step = RunnableLambda(call_model)
    assert graph_step.invoke({"question": "Capital of France?"}) == {"answer": "Paris."}
    call_model({"question": "Again?"})

    assert_usage(ledger, model="gpt-4o-2024-08-06", calls=2, reasoning_tokens=400)


async def test_decorated_coroutine_records_its_model_calls() -> None:
    ledger = UsageLedger()
    model = fake_model(reply())

    @track_usage(ledger)
    async def call_model(question: str) -> str:
        return str((await model.ainvoke(question)).content)

    assert await call_model("Capital of France?") == "Paris."

    assert ledger.snapshot().models["gpt-4o-2024-08-06"] == MESSAGE_USAGE


def test_calls_outside_tracking_are_not_recorded() -> None:
    ledger = UsageLedger()
    model = fake_model(reply(), reply())

    with track_usage(ledger):
        model.invoke("inside")
    model.invoke("outside")

    assert_usage(ledger, calls=1)


def test_tracking_does_not_double_an_explicit_handler() -> None:
    ledger = UsageLedger()
    model = fake_model(reply())

    with track_usage(ledger) as handler:
        model.invoke("hi", config={"callbacks": [handler]})

    assert_usage(ledger, calls=1)
