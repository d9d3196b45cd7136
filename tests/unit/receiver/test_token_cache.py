"""The token cache expires entries, evicts the least recently used and never keeps tokens."""

from __future__ import annotations

import pytest

from agentobs.receiver.cache import TtlCache, token_digest


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_entry_expires_after_its_ttl() -> None:
    clock = Clock()
    cache: TtlCache[str] = TtlCache(10, clock=clock)
    cache.put("a", "user", ttl_seconds=5)

    clock.now += 4.9
    assert cache.get("a") == "user"
    clock.now += 0.1
    assert cache.get("a") is None
    assert len(cache) == 0


def test_full_cache_drops_least_recently_used() -> None:
    cache: TtlCache[int] = TtlCache(2, clock=Clock())
    cache.put("a", 1, ttl_seconds=60)
    cache.put("b", 2, ttl_seconds=60)
    assert cache.get("a") == 1

    cache.put("c", 3, ttl_seconds=60)

    assert cache.get("b") is None
    assert cache.get("a") == 1
    assert cache.get("c") == 3


def test_zero_ttl_removes_entry() -> None:
    cache: TtlCache[int] = TtlCache(2, clock=Clock())
    cache.put("a", 1, ttl_seconds=60)

    cache.put("a", 2, ttl_seconds=0)

    assert cache.get("a") is None


def test_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_size must be positive, received 0"):
        TtlCache(0)


def test_digest_is_sha256_hex_not_the_token() -> None:
    digest = token_digest("secret-token")

    assert len(digest) == 64
    assert "secret" not in digest
    assert digest == token_digest("secret-token")
