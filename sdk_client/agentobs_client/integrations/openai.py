"""Records from OpenAI chat completions and Responses API responses.

Responses may be parsed JSON (dicts) or `openai` SDK objects; this module reads
both by key or attribute and does not import the SDK. OpenAI's counts already
match the ledger: `prompt_tokens` (`input_tokens` in the Responses API)
includes `cached_tokens`, and `completion_tokens` (`output_tokens`) includes
`reasoning_tokens`. OpenAI reports no prompt-cache writes, so
`cache_write_tokens` stays zero.

Streams carry usage only in their last chunk, and for chat completions only when
the request sets `stream_options={"include_usage": True}`. A stream without it
is counted as an unreported call::

    recorder = ChatCompletionStreamRecorder(ledger)
    for chunk in recorder.wrap(client.chat.completions.create(..., stream=True,
                                stream_options={"include_usage": True})):
        ...
"""

from __future__ import annotations

from agentobs_client import _ledger
from agentobs_client.integrations import _usage

__all__ = [
    "ChatCompletionStreamRecorder",
    "ResponseStreamRecorder",
    "record_chat_completion",
    "record_response",
]

_INTEGRATION = "openai"

# Responses API stream events that carry the final response, usage included.
_FINAL_RESPONSE_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})


def record_chat_completion(
    ledger: _ledger.UsageLedger, completion: object, *, model: str | None = None
) -> None:
    """Record one chat completion (`client.chat.completions.create()` result).

    Args:
        ledger: The ledger to record in.
        completion: The completion, as a dict or an SDK object.
        model: Model name to use when the completion names none.

    A completion without `usage` is counted as an unreported call. Malformed
    usage is skipped and counted, never raised.
    """
    _record(ledger, completion, model, _read_chat_usage)


def record_response(
    ledger: _ledger.UsageLedger, response: object, *, model: str | None = None
) -> None:
    """Record one Responses API response (`client.responses.create()` result).

    Args:
        ledger: The ledger to record in.
        response: The response, as a dict or an SDK object.
        model: Model name to use when the response names none.

    A response without `usage` is counted as an unreported call. Malformed
    usage is skipped and counted, never raised.
    """
    _record(ledger, response, model, _read_response_usage)


class ChatCompletionStreamRecorder(_usage.StreamRecorder):
    """Records one streamed chat completion from its chunks.

    Only the last chunk carries usage (with `stream_options.include_usage`);
    every other chunk has `usage` null or absent. `finish()` records that usage,
    or an unreported call when no chunk carried any.

    Args:
        ledger: The ledger to record in.
        model: Model name to use when no chunk names one.
    """

    def __init__(self, ledger: _ledger.UsageLedger, *, model: str | None = None) -> None:
        super().__init__(ledger, integration=_INTEGRATION)
        self._model = model
        self._usage_chunk: object = None

    def _inspect(self, event: object) -> None:
        chunk_model = _usage.read_field(event, "model")
        if self._model is None and isinstance(chunk_model, str) and chunk_model:
            self._model = chunk_model
        if _usage.read_field(event, "usage") is not None:
            self._usage_chunk = event

    def _record(self) -> None:
        if self._usage_chunk is None:
            _record_unreported(self._ledger, self._model)
            return
        _record(self._ledger, self._usage_chunk, self._model, _read_chat_usage)


class ResponseStreamRecorder(_usage.StreamRecorder):
    """Records one streamed Responses API response from its events.

    The terminal event (`response.completed`, `response.incomplete` or
    `response.failed`) carries the whole response with its usage. `finish()`
    records it, or an unreported call when the stream ended without one.

    Args:
        ledger: The ledger to record in.
        model: Model name to use when no event names one.
    """

    def __init__(self, ledger: _ledger.UsageLedger, *, model: str | None = None) -> None:
        super().__init__(ledger, integration=_INTEGRATION)
        self._model = model
        self._final_response: object = None

    def _inspect(self, event: object) -> None:
        response = _usage.read_field(event, "response")
        if response is None:
            return
        response_model = _usage.read_field(response, "model")
        if self._model is None and isinstance(response_model, str) and response_model:
            self._model = response_model
        if _usage.read_field(event, "type") in _FINAL_RESPONSE_EVENTS:
            self._final_response = response

    def _record(self) -> None:
        if self._final_response is None:
            _record_unreported(self._ledger, self._model)
            return
        _record(self._ledger, self._final_response, self._model, _read_response_usage)


def _read_chat_usage(usage: object) -> _usage.NormalizedUsage:
    prompt_details = _usage.read_field(usage, "prompt_tokens_details")
    completion_details = _usage.read_field(usage, "completion_tokens_details")
    return _usage.NormalizedUsage(
        input_tokens=_usage.read_count(usage, "prompt_tokens", path="usage", required=True),
        output_tokens=_usage.read_count(usage, "completion_tokens", path="usage", required=True),
        cache_read_tokens=_usage.read_count(
            prompt_details, "cached_tokens", path="usage.prompt_tokens_details"
        ),
        reasoning_tokens=_usage.read_count(
            completion_details, "reasoning_tokens", path="usage.completion_tokens_details"
        ),
    )


def _read_response_usage(usage: object) -> _usage.NormalizedUsage:
    input_details = _usage.read_field(usage, "input_tokens_details")
    output_details = _usage.read_field(usage, "output_tokens_details")
    return _usage.NormalizedUsage(
        input_tokens=_usage.read_count(usage, "input_tokens", path="usage", required=True),
        output_tokens=_usage.read_count(usage, "output_tokens", path="usage", required=True),
        cache_read_tokens=_usage.read_count(
            input_details, "cached_tokens", path="usage.input_tokens_details"
        ),
        reasoning_tokens=_usage.read_count(
            output_details, "reasoning_tokens", path="usage.output_tokens_details"
        ),
    )


def _record(
    ledger: _ledger.UsageLedger,
    response: object,
    fallback_model: str | None,
    read_usage: _usage.UsageReader,
) -> None:
    _usage.record_response(ledger, response, fallback_model, read_usage, integration=_INTEGRATION)


def _record_unreported(ledger: _ledger.UsageLedger, model: str | None) -> None:
    if model is None:
        _usage.skip(
            ledger,
            integration=_INTEGRATION,
            kind="missing_model",
            detail="the stream named no model and carried no usage; pass model=",
        )
        return
    _usage.record_unreported(ledger, model, integration=_INTEGRATION)
