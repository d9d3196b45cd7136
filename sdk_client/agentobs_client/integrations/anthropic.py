"""Records from Anthropic Messages API responses and message streams.

Anthropic's `input_tokens` counts only the input after the last cache
breakpoint: it excludes `cache_read_input_tokens` and
`cache_creation_input_tokens`. The ledger's input includes cached input, so
this module adds both to `input_tokens` and records them as
`cache_read_tokens` and `cache_write_tokens`. Thinking tokens are part of
`output_tokens` and not reported apart, so `reasoning_tokens` stays zero.

Responses may be parsed JSON (dicts) or `anthropic` SDK objects; this module
reads both by key or attribute and does not import the SDK.

A stream reports usage in `message_start` and again, cumulatively, in each
`message_delta`. Summing the events would count tokens twice, so
`MessageStreamRecorder` keeps the latest value of each count and records the
message once::

    recorder = MessageStreamRecorder(ledger)
    for event in recorder.wrap(client.messages.create(..., stream=True)):
        ...
"""

from __future__ import annotations

from agentobs_client import _ledger
from agentobs_client.integrations import _usage

__all__ = ["MessageStreamRecorder", "record_message"]

_INTEGRATION = "anthropic"

_COUNT_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)


def record_message(
    ledger: _ledger.UsageLedger, message: object, *, model: str | None = None
) -> None:
    """Record one message (`client.messages.create()` result).

    Args:
        ledger: The ledger to record in.
        message: The message, as a dict or an SDK object.
        model: Model name to use when the message names none.

    A message without `usage` is counted as an unreported call. Malformed usage
    is skipped and counted, never raised.
    """
    _usage.record_response(ledger, message, model, _read_usage, integration=_INTEGRATION)


class MessageStreamRecorder(_usage.StreamRecorder):
    """Records one streamed message from its events, with its final counts.

    `message_start` carries the model and the first usage. Each
    `message_delta` carries cumulative counts that replace the earlier ones (a
    null or absent count keeps the earlier value). `message_stop` finishes the
    recorder, so the message is recorded as soon as it is complete. A stream
    without usage is counted as an unreported call.

    Args:
        ledger: The ledger to record in.
        model: Model name to use when the stream names none.
    """

    def __init__(self, ledger: _ledger.UsageLedger, *, model: str | None = None) -> None:
        super().__init__(ledger, integration=_INTEGRATION)
        self._model = model
        self._counts: dict[str, object] = {}
        self._seen_usage = False

    def _inspect(self, event: object) -> None:
        event_type = _usage.read_field(event, "type")
        if event_type == "message_start":
            message = _usage.read_field(event, "message")
            message_model = _usage.read_field(message, "model")
            if isinstance(message_model, str) and message_model:
                self._model = message_model
            self._merge(_usage.read_field(message, "usage"))
        elif event_type == "message_delta":
            self._merge(_usage.read_field(event, "usage"))
        elif event_type == "message_stop":
            self.finish()

    def _merge(self, usage: object) -> None:
        if usage is None:
            return
        self._seen_usage = True
        for name in _COUNT_FIELDS:
            value = _usage.read_field(usage, name)
            if value is not None:
                self._counts[name] = value

    def _record(self) -> None:
        if not self._seen_usage:
            if self._model is None:
                _usage.skip(
                    self._ledger,
                    integration=_INTEGRATION,
                    kind="missing_model",
                    detail="the stream named no model and carried no usage; pass model=",
                )
                return
            _usage.record_unreported(self._ledger, self._model, integration=_INTEGRATION)
            return
        _usage.record_response(
            self._ledger,
            {"model": self._model, "usage": self._counts},
            self._model,
            _read_usage,
            integration=_INTEGRATION,
        )


def _read_usage(usage: object) -> _usage.NormalizedUsage:
    uncached = _usage.read_count(usage, "input_tokens", path="usage", required=True)
    cache_read = _usage.read_count(usage, "cache_read_input_tokens", path="usage")
    cache_write = _usage.read_count(usage, "cache_creation_input_tokens", path="usage")
    return _usage.NormalizedUsage(
        input_tokens=uncached + cache_read + cache_write,
        output_tokens=_usage.read_count(usage, "output_tokens", path="usage", required=True),
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
    )
