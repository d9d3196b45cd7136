"""Fixtures for the client tests: heartbeat servers, reporters and log capture."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from heartbeat_server import HeartbeatServer, ReporterFactory

from agentobs_client import Reporter, UsageLedger
from agentobs_client.integrations import _usage


@pytest.fixture
def idle_server() -> Iterator[HeartbeatServer]:
    """A bound server that refuses connections until the test calls `start()`."""
    server = HeartbeatServer()
    yield server
    server.stop()
    assert server.schema_errors == []


@pytest.fixture
def heartbeat_server(idle_server: HeartbeatServer) -> HeartbeatServer:
    """A listening heartbeat server."""
    idle_server.start()
    return idle_server


@pytest.fixture
def make_reporter() -> Iterator[ReporterFactory]:
    """Build reporters with fast test settings; every one is closed at teardown.

    The interval is an hour, so heartbeats go out only when a test flushes,
    unless the test passes its own interval.
    """
    reporters: list[Reporter] = []

    def make(ledger: UsageLedger, server: HeartbeatServer, **overrides: Any) -> Reporter:
        settings: dict[str, Any] = {
            "url": server.url,
            "agent_name": "planner",
            "namespace": "research",
            "interval": 3600.0,
            "timeout": 5.0,
            "backoff_initial": 0.01,
            "backoff_max": 0.05,
            "shutdown_timeout": 5.0,
            "handle_sigterm": False,
            "environ": {},
        }
        settings.update(overrides)
        reporter = Reporter(ledger, **settings)
        reporters.append(reporter)
        return reporter

    yield make
    for reporter in reporters:
        reporter.close(timeout=0.1)


@pytest.fixture(autouse=True)
def forget_logged_kinds() -> None:
    """Let each test see the first log line of every kind of skipped response."""
    _usage._logged_kinds.clear()


@pytest.fixture
def client_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Captures the client's log records at DEBUG and above."""
    caplog.set_level(logging.DEBUG, logger="agentobs_client")
    return caplog
