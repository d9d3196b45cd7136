"""Runs `agentobs` as a local process against the local control plane and PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devenv import processes


@dataclass
class AgentobsProcess:
    """One `agentobs` process (`run`, `operator` or `receiver`) on a fixed 127.0.0.1 port."""

    command: str
    database_url: str
    kubeconfig: Path
    log: Path
    port: int = field(default_factory=processes.free_port)
    extra_args: tuple[str, ...] = ()
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, wait: bool = True) -> None:
        """Start the process and, with `wait`, wait until /readyz returns 200."""
        argv = [
            sys.executable,
            "-m",
            "agentobs.cli",
            self.command,
            "--database-url",
            self.database_url,
            "--kubeconfig",
            str(self.kubeconfig),
            "--listen-host",
            "127.0.0.1",
            "--port",
            str(self.port),
            *self.extra_args,
        ]
        environment = {
            key: value for key, value in os.environ.items() if not key.startswith("AGENTOBS_")
        }
        self.process = processes.start(
            f"agentobs {self.command}", argv, log=self.log, env=environment
        )
        if wait:
            processes.wait_until(
                f"agentobs {self.command}",
                self.ready,
                process=self.process,
                log=self.log,
                timeout=60,
            )

    def ready(self) -> bool:
        """Tell whether /readyz returns 200."""
        try:
            with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def kill(self) -> None:
        """Kill the process with SIGKILL, as a node failure or an OOM kill would."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(30)
        self.process = None

    def stop(self) -> int | None:
        """Stop the process with SIGTERM (then SIGKILL if it hangs); return its exit code."""
        code = None
        if self.process is not None:
            processes.stop(self.process, timeout=30)
            code = self.process.returncode
        self.process = None
        return code

    def get_json(self, path: str, token: str | None = None) -> Any:
        """GET a JSON document from the process."""
        request = urllib.request.Request(f"{self.url}{path}")
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)

    def metrics(self) -> str:
        """Return the text of /metrics."""
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=10) as response:
            return str(response.read().decode())


def wait_for(condition: Any, *, timeout: float, what: str, interval: float = 0.2) -> Any:
    """Poll `condition` until it returns a truthy value and return it; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(
        f"timed out after {timeout:.0f} s waiting for {what}; last value: {last!r}"
    )
