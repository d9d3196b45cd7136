"""Shared reading, normalising and skipping of provider usage.

Provider responses arrive as parsed JSON (dicts) or as SDK objects, so every
field is read by key or by attribute. A count must be a non-negative int. A
missing or null optional count is zero, and anything else makes the usage
malformed: the response is skipped, counted in the ledger and logged once per
(integration, kind) for the life of the process.
"""

from __future__ import annotations

import abc
import dataclasses
import logging
import threading
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    Callable,
    Generator,
    Iterable,
    Mapping,
)
from typing import TypeVar

from agentobs_client import _ledger

__all__ = [
    "MalformedUsage",
    "NormalizedUsage",
    "StreamRecorder",
    "UsageReader",
    "read_count",
    "read_field",
    "read_model",
    "record_normalized",
    "record_response",
    "record_unreported",
    "skip",
]

logger = logging.getLogger("agentobs_client.integrations")

_T = TypeVar("_T")

_logged_kinds: set[tuple[str, str]] = set()
_logged_kinds_lock = threading.Lock()


class MalformedUsage(ValueError):
    """A provider response whose usage cannot be read. `kind` classifies it."""

    def __init__(self, message: str, *, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclasses.dataclass(frozen=True, slots=True)
class NormalizedUsage:
    """Usage of one call in the ledger's terms (input includes cached input)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0


UsageReader = Callable[[object], NormalizedUsage]
"""A function that normalises one provider's `usage` object."""


def read_field(source: object, name: str) -> object:
    """Read `name` by key from a mapping or as an attribute, None if absent."""
    if isinstance(source, Mapping):
        return source.get(name)
    return getattr(source, name, None)


def read_count(source: object, name: str, *, path: str, required: bool = False) -> int:
    """Read a token count, treating absent or null as zero unless `required`.

    Raises:
        MalformedUsage: The value is not a non-negative int (bools and floats
            included), or it is absent and `required`.
    """
    value = read_field(source, name)
    if value is None:
        if required:
            raise MalformedUsage(f"{path}.{name} is missing", kind="missing_count")
        return 0
    if type(value) is not int or value < 0:
        raise MalformedUsage(
            f"{path}.{name} must be a non-negative int, got {type(value).__name__}",
            kind="invalid_count",
        )
    return value


def read_model(response: object, fallback: str | None) -> str:
    """Return the model that the response names, else `fallback`.

    Raises:
        MalformedUsage: Neither names a model.
    """
    model = read_field(response, "model")
    if isinstance(model, str) and model:
        return model
    if fallback:
        return fallback
    raise MalformedUsage("the response names no model; pass model=", kind="missing_model")


def record_normalized(
    ledger: _ledger.UsageLedger, model: str, usage: NormalizedUsage, *, integration: str
) -> None:
    """Record one call, or skip it when the ledger rejects its values."""
    try:
        ledger.record(
            model,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            reasoning_tokens=usage.reasoning_tokens,
        )
    except (TypeError, ValueError) as error:
        skip(ledger, integration=integration, kind="rejected_by_ledger", detail=str(error))


def record_unreported(ledger: _ledger.UsageLedger, model: str, *, integration: str) -> None:
    """Count a call without usage, or skip it when the model name is invalid."""
    try:
        ledger.record_unreported(model)
    except (TypeError, ValueError) as error:
        skip(ledger, integration=integration, kind="rejected_by_ledger", detail=str(error))


def skip(ledger: _ledger.UsageLedger, *, integration: str, kind: str, detail: str) -> None:
    """Count a skipped response in the ledger and log its kind the first time."""
    ledger.record_skipped()

    key = (integration, kind)
    with _logged_kinds_lock:
        if key in _logged_kinds:
            return
        _logged_kinds.add(key)
    logger.warning(
        "skipped a response with malformed usage integration=%s kind=%s detail=%s; "
        "later responses of this kind are counted in skippedRecords without a log line",
        integration,
        kind,
        detail,
    )


class StreamRecorder(abc.ABC):
    """Base of the stream recorders: feed every event, then finish once.

    `add()` inspects one streamed chunk or event, and `finish()` records the
    call: with its usage when the stream carried any, else as an unreported
    call. `finish()` runs once; later calls do nothing. `wrap()` and `awrap()`
    pass a stream through unchanged and call `finish()` when it ends, fails or
    is abandoned. Neither `add()` nor `finish()` raises: an event that cannot
    be read makes `finish()` count the stream as skipped.
    """

    def __init__(self, ledger: _ledger.UsageLedger, *, integration: str) -> None:
        self._ledger = ledger
        self._integration = integration
        self._unreadable: str | None = None
        self._finished = False

    def add(self, event: object) -> None:
        """Inspect one chunk or event of the stream."""
        if self._unreadable is not None:
            return
        try:
            self._inspect(event)
        except Exception as error:
            self._unreadable = f"{type(error).__name__}: {error}"

    def finish(self) -> None:
        """Record the call now, once. Called by `wrap` and `awrap` at the end."""
        if self._finished:
            return
        self._finished = True

        if self._unreadable is not None:
            skip(
                self._ledger,
                integration=self._integration,
                kind="unreadable_stream_event",
                detail=self._unreadable,
            )
            return
        try:
            self._record()
        except Exception as error:
            skip(
                self._ledger,
                integration=self._integration,
                kind="unreadable_stream",
                detail=f"{type(error).__name__}: {error}",
            )

    def wrap(self, stream: Iterable[_T]) -> Generator[_T, None, None]:
        """Yield every item of `stream`, adding each, and finish at the end."""
        try:
            for item in stream:
                self.add(item)
                yield item
        finally:
            self.finish()

    async def awrap(self, stream: AsyncIterable[_T]) -> AsyncGenerator[_T, None]:
        """Yield every item of an async `stream`, adding each, and finish at the end."""
        try:
            async for item in stream:
                self.add(item)
                yield item
        finally:
            self.finish()

    @abc.abstractmethod
    def _inspect(self, event: object) -> None:
        """Collect the model and usage that one event carries."""

    @abc.abstractmethod
    def _record(self) -> None:
        """Record the call from what `_inspect` collected."""


def record_response(
    ledger: _ledger.UsageLedger,
    response: object,
    fallback_model: str | None,
    read_usage: UsageReader,
    *,
    integration: str,
) -> None:
    """Record one response that has `model` and `usage` fields, skipping malformed ones."""
    try:
        model = read_model(response, fallback_model)
        usage = read_field(response, "usage")
        if usage is None:
            record_unreported(ledger, model, integration=integration)
            return
        normalized = read_usage(usage)
    except MalformedUsage as error:
        skip(ledger, integration=integration, kind=error.kind, detail=str(error))
        return
    except Exception as error:
        # An SDK object whose attribute access fails, or another surprise.
        skip(
            ledger,
            integration=integration,
            kind="unreadable_response",
            detail=f"{type(error).__name__}: {error}",
        )
        return
    record_normalized(ledger, model, normalized, integration=integration)
