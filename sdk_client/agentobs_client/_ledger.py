"""The usage ledger: cumulative token counters per model for one process.

`UsageLedger.record()` is called once per model call, from any thread or from
asyncio code. It validates its arguments, then replaces one immutable tuple
under a lock, so the lock is held only for a few additions. `snapshot()` copies
the counters under the same lock and builds its immutable value outside it.

Counters only grow. The reporter sends them as they are (cumulative since the
process started), so nothing is ever drained or queued. Memory is bounded by
the number of models: `max_models`, 256 by default, the receiver's default
limit of models per heartbeat.

Limitation: a ledger does not follow `os.fork()`. A child process inherits the
parent's counters, so create ledgers and reporters after forking.
"""

from __future__ import annotations

import dataclasses
import threading
import types
from collections.abc import Mapping
from typing import Final, NoReturn, cast

__all__ = ["MAX_COUNT", "MAX_MODEL_NAME_LENGTH", "TokenCounts", "UsageLedger", "UsageSnapshot"]

MAX_COUNT: Final = 2**63 - 1
"""Largest value of any counter, as the heartbeat protocol allows."""

MAX_MODEL_NAME_LENGTH: Final = 200
"""Largest model name, in characters, as the heartbeat protocol allows."""

DEFAULT_MAX_MODELS: Final = 256

# Counters of one model, in this order. The tuple is replaced as a whole, so a
# reader never sees half of a record.
_Counts = tuple[int, int, int, int, int, int, int]
_ZERO: Final[_Counts] = (0, 0, 0, 0, 0, 0, 0)


@dataclasses.dataclass(frozen=True, slots=True)
class TokenCounts:
    """Cumulative counters of one model, or of all models together.

    `input_tokens` includes cached input and `output_tokens` includes reasoning.
    `cache_read_tokens`, `cache_write_tokens` and `reasoning_tokens` are parts of
    them. `calls` counts calls with known usage and `unreported_calls` counts
    calls whose provider returned no usage.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    calls: int = 0
    unreported_calls: int = 0

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens


@dataclasses.dataclass(frozen=True, slots=True)
class UsageSnapshot:
    """An immutable copy of a ledger's counters at one moment.

    `models` maps each model name to its `TokenCounts` and is read-only.
    `totals` sums them. `skipped_records` counts provider responses whose usage
    was malformed and that the integrations skipped.
    """

    models: Mapping[str, TokenCounts]
    totals: TokenCounts
    skipped_records: int = 0


class UsageLedger:
    """Thread-safe cumulative token counters per model for one process.

    Create one ledger per process (or per agent in a process that runs several)
    and give it to a `Reporter`. Every method may be called from any thread and
    from asyncio code, because none of them blocks for longer than a few
    additions under a lock.

    Args:
        max_models: Maximum number of distinct model names. A record for a new
            model beyond it raises ValueError, because the receiver rejects
            heartbeats with more models (256 by default).
    """

    def __init__(self, *, max_models: int = DEFAULT_MAX_MODELS) -> None:
        if type(max_models) is not int or max_models < 1:
            raise ValueError(f"max_models must be a positive int, got {max_models!r}")

        self._max_models = max_models

        # RLock, not Lock: a SIGTERM handler that runs while the main thread is
        # inside record() must still be able to take a snapshot.
        self._lock = threading.RLock()
        self._models: dict[str, _Counts] = {}
        self._skipped_records = 0

    def record(
        self,
        model: str,
        *,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
        reasoning_tokens: int = 0,
        calls: int = 1,
    ) -> None:
        """Add the usage of one model call (or of `calls` calls) to the counters.

        Args:
            model: Model name as the provider reports it: 1 to 200 printable
                characters.
            input_tokens: Input tokens, including cached input.
            output_tokens: Output tokens, including reasoning.
            cache_read_tokens: Part of `input_tokens` read from the prompt cache.
            cache_write_tokens: Part of `input_tokens` written to the prompt cache.
            reasoning_tokens: Part of `output_tokens` spent on reasoning.
            calls: Number of calls this record stands for.

        Raises:
            TypeError: A count is not an int (bool and float included) or the
                model is not a str. The message names the argument.
            ValueError: A count is negative or above 2**63-1, a breakdown is larger
                than its parent, the model name is empty, too long or not
                printable, a counter would pass 2**63-1, or the ledger already
                contains `max_models` other models.

        Nothing changes when an error is raised.
        """
        # Fast path: one type and range test per argument. The slow path finds
        # the argument to name in the error.
        if not (
            type(input_tokens) is int
            and type(output_tokens) is int
            and type(cache_read_tokens) is int
            and type(cache_write_tokens) is int
            and type(reasoning_tokens) is int
            and type(calls) is int
            and 0 <= cache_read_tokens <= input_tokens <= MAX_COUNT
            and 0 <= cache_write_tokens <= input_tokens
            and 0 <= reasoning_tokens <= output_tokens <= MAX_COUNT
            and 0 <= calls <= MAX_COUNT
        ):
            _raise_for_counts(
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                cache_read_tokens=cache_read_tokens,
                cache_write_tokens=cache_write_tokens,
                reasoning_tokens=reasoning_tokens,
                calls=calls,
            )

        with self._lock:
            old = self._models.get(model)
            if old is None:
                old = self._admit_model(model)
            new: _Counts = (
                old[0] + input_tokens,
                old[1] + output_tokens,
                old[2] + cache_read_tokens,
                old[3] + cache_write_tokens,
                old[4] + reasoning_tokens,
                old[5] + calls,
                old[6],
            )
            # Each breakdown is at most its parent, so checking input, output and
            # calls covers every counter.
            if new[0] > MAX_COUNT or new[1] > MAX_COUNT or new[5] > MAX_COUNT:
                _raise_overflow(model)
            self._models[model] = new

    def record_unreported(self, model: str, *, calls: int = 1) -> None:
        """Count calls to `model` whose provider returned no usage.

        Such calls are sent as `unreportedCalls`, never as calls with zero
        tokens, so a dashboard can tell "used nothing" from "did not say".

        Raises:
            TypeError: `calls` is not an int or `model` is not a str.
            ValueError: `calls` is negative or the counter would pass 2**63-1, or
                the model name is invalid (see `record`).
        """
        _check_count("calls", calls)

        with self._lock:
            old = self._models.get(model)
            if old is None:
                old = self._admit_model(model)
            unreported = old[6] + calls
            if unreported > MAX_COUNT:
                _raise_overflow(model)
            self._models[model] = (*old[:6], unreported)

    def record_skipped(self, count: int = 1) -> None:
        """Count provider responses whose usage was malformed and was skipped.

        The integrations call this; the count travels in every heartbeat as
        `skippedRecords`, so malformed responses are visible in the cluster.

        Raises:
            TypeError: `count` is not an int.
            ValueError: `count` is negative or the counter would pass 2**63-1.
        """
        _check_count("count", count)

        with self._lock:
            skipped = self._skipped_records + count
            if skipped > MAX_COUNT:
                raise ValueError(f"skipped records would exceed {MAX_COUNT}")
            self._skipped_records = skipped

    def snapshot(self) -> UsageSnapshot:
        """Return an immutable copy of every counter.

        Later records never change a snapshot that was already returned.
        """
        with self._lock:
            items = list(self._models.items())
            skipped = self._skipped_records

        models = {model: TokenCounts(*counts) for model, counts in items}
        sums = [sum(column) for column in zip(*(counts for _, counts in items), strict=True)]
        totals = TokenCounts(*sums) if sums else TokenCounts()
        return UsageSnapshot(
            models=types.MappingProxyType(models), totals=totals, skipped_records=skipped
        )

    def _admit_model(self, model: str) -> _Counts:
        # Called with the lock held, for a model name not seen before.
        validate_model_name(model)
        if len(self._models) >= self._max_models:
            raise ValueError(
                f"cannot record model {model!r}: the ledger already contains "
                f"{self._max_models} models, the maximum (max_models)"
            )
        return _ZERO


def validate_model_name(model: object) -> None:
    """Raise TypeError or ValueError unless `model` is a valid model name.

    A valid name is a str of 1 to 200 characters from U+0020-U+007E and
    U+00A0-U+FFFF, without surrogates, as the heartbeat protocol requires.
    """
    if type(model) is not str:
        raise TypeError(f"model must be a str, got {type(model).__name__}")
    if not model:
        raise ValueError("model must not be empty")
    if len(model) > MAX_MODEL_NAME_LENGTH:
        raise ValueError(
            f"model must be at most {MAX_MODEL_NAME_LENGTH} characters, got {len(model)}"
        )
    for char in model:
        if not _is_printable(char):
            raise ValueError(
                f"model must contain printable characters only, got {char!r} in {model!r}"
            )


def _is_printable(char: str) -> bool:
    code = ord(char)
    if 0x20 <= code <= 0x7E:
        return True
    return 0xA0 <= code <= 0xFFFF and not 0xD800 <= code <= 0xDFFF


def _check_count(name: str, value: object) -> None:
    if type(value) is not int:
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value}")
    if value > MAX_COUNT:
        raise ValueError(f"{name} must be at most {MAX_COUNT}, got {value}")


def _raise_for_counts(
    *,
    input_tokens: object,
    output_tokens: object,
    cache_read_tokens: object,
    cache_write_tokens: object,
    reasoning_tokens: object,
    calls: object,
) -> NoReturn:
    counts = {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_read_tokens": cache_read_tokens,
        "cache_write_tokens": cache_write_tokens,
        "reasoning_tokens": reasoning_tokens,
        "calls": calls,
    }
    for name, value in counts.items():
        _check_count(name, value)

    # Every count is a valid int now, so a breakdown exceeds its parent.
    valid = cast(dict[str, int], counts)
    for part, parent in (
        ("cache_read_tokens", "input_tokens"),
        ("cache_write_tokens", "input_tokens"),
        ("reasoning_tokens", "output_tokens"),
    ):
        if valid[part] > valid[parent]:
            raise ValueError(
                f"{part} ({valid[part]}) must not exceed {parent} ({valid[parent]}), "
                f"because it is a part of it"
            )
    raise AssertionError("unreachable: the counts passed every check")


def _raise_overflow(model: str) -> NoReturn:
    raise ValueError(f"cannot record model {model!r}: a counter would exceed {MAX_COUNT}")
