"""The token bucket that caps status patches across all objects."""

from __future__ import annotations

import pytest

from agentobs.projector.ratelimit import TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_burst_is_available_at_once_then_rate_applies() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=2.0, burst=3, clock=clock)

    taken = [bucket.try_acquire() for _ in range(4)]
    clock.now += 0.5
    after_half_second = bucket.try_acquire()
    second_after = bucket.try_acquire()

    assert taken == [True, True, True, False]
    assert after_half_second is True
    assert second_after is False


def test_tokens_never_exceed_burst() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=10.0, burst=2, clock=clock)
    clock.now += 60

    taken = [bucket.try_acquire() for _ in range(3)]

    assert taken == [True, True, False]


def test_delay_tells_when_the_next_token_comes() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=4.0, burst=1, clock=clock)
    bucket.try_acquire()

    assert bucket.delay() == pytest.approx(0.25)


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (1, 0)])
def test_invalid_rate_or_burst_is_rejected(rate: float, burst: int) -> None:
    with pytest.raises(ValueError, match="rate must be positive"):
        TokenBucket(rate=rate, burst=burst)
