"""A bounded cache whose entries expire, for token review results.

Keys are SHA-256 digests of tokens, never the tokens themselves. The cache contains at
most `max_size` entries and drops the least recently used one when full. It is not
thread-safe; the receiver uses it from one event loop.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

Value = TypeVar("Value")


def token_digest(token: str) -> str:
    """Return the hex SHA-256 of a token, the only form in which tokens are kept."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class TtlCache(Generic[Value]):
    """A least-recently-used cache whose entries each expire after their own TTL."""

    def __init__(self, max_size: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        if max_size <= 0:
            raise ValueError(f"max_size must be positive, received {max_size}")
        self._entries: OrderedDict[str, tuple[float, Value]] = OrderedDict()
        self._max_size = max_size
        self._clock = clock

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> Value | None:
        """Return the value stored under `key`, or None if absent or expired."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires_at, value = entry
        if self._clock() >= expires_at:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    def put(self, key: str, value: Value, ttl_seconds: float) -> None:
        """Store `value` under `key` for `ttl_seconds`; a TTL of zero stores nothing."""
        if ttl_seconds <= 0:
            self._entries.pop(key, None)
            return
        self._entries[key] = (self._clock() + ttl_seconds, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_size:
            self._entries.popitem(last=False)
