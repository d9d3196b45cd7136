"""Fixtures of the end-to-end tier: a fresh database and `agentobs` processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devenv.controlplane import ControlPlane
from devenv.service import AgentobsProcess

StartAgentobs = Callable[..., AgentobsProcess]


@pytest.fixture
def start_agentobs(
    control_plane: ControlPlane, database_dsn: str, tmp_path: Path
) -> Iterator[StartAgentobs]:
    """Start `agentobs` processes on the session's API server and a fresh database."""
    started: list[AgentobsProcess] = []

    def start(
        command: str = "run", *extra_args: str, kubeconfig: Path | None = None, wait: bool = True
    ) -> AgentobsProcess:
        service = AgentobsProcess(
            command=command,
            database_url=database_dsn,
            kubeconfig=kubeconfig or control_plane.kubeconfig,
            log=tmp_path / f"agentobs-{command}-{len(started)}.log",
            extra_args=extra_args,
        )
        started.append(service)
        service.start(wait=wait)
        return service

    yield start
    for service in started:
        service.stop()
