"""The rejected-request log: one line per kind and interval, with a count of the rest."""

from __future__ import annotations

import logging

import pytest

from agentobs.receiver.rejections import RejectionLog


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def reject(log: RejectionLog, code: str = "invalid_token", status: int = 401) -> bool:
    return log.note(
        route="/v1/heartbeats",
        status=status,
        code=code,
        message="The token was rejected.",
        remote="127.0.0.1",
    )


def test_repeats_within_interval_are_counted_not_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    log = RejectionLog(interval_seconds=60, clock=clock)

    with caplog.at_level(logging.WARNING, logger="agentobs.receiver.rejections"):
        logged = [reject(log) for _ in range(5)]
        clock.now += 61
        logged_again = reject(log)

    assert logged == [True, False, False, False, False]
    assert logged_again is True
    assert len(caplog.records) == 2
    assert "status=401 error=invalid_token" in caplog.records[0].getMessage()
    assert "similar_since_last=4" in caplog.records[1].getMessage()


def test_each_kind_of_rejection_gets_its_own_line() -> None:
    log = RejectionLog(interval_seconds=60, clock=Clock())

    first = reject(log, "invalid_token", 401)
    other = reject(log, "invalid_field", 422)

    assert first is True
    assert other is True
