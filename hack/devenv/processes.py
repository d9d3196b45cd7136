"""Helpers to start, wait for and stop the local service processes."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path


class ServiceError(RuntimeError):
    """A local service could not be started; the message names it and the reason."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start(
    name: str,
    argv: list[str],
    *,
    log: Path,
    user: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start one service process with its output in `log`, in its own session."""
    if user is not None and os.geteuid() == 0:
        argv = ["runuser", "-u", user, "--", *argv]
    log_file = log.open("ab")
    try:
        return subprocess.Popen(
            argv,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    except OSError as error:
        raise ServiceError(f"{name} could not be started with {argv[0]}: {error}") from error
    finally:
        log_file.close()


def wait_until(
    name: str,
    ready: Callable[[], bool],
    *,
    process: subprocess.Popen[bytes],
    log: Path,
    timeout: float,
) -> None:
    """Poll `ready` until it holds; fail with the log's tail if the process exits or stalls."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServiceError(
                f"{name} exited with code {process.returncode} while starting; "
                f"last lines of {log}:\n{tail(log)}"
            )
        if ready():
            return
        time.sleep(0.1)
    raise ServiceError(
        f"{name} was not ready after {timeout:.0f} s; last lines of {log}:\n{tail(log)}"
    )


def stop(
    process: subprocess.Popen[bytes],
    *,
    timeout: float = 15.0,
    signum: signal.Signals = signal.SIGTERM,
) -> None:
    """Stop a process started by `start`: `signum` to its group, then SIGKILL."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout)


def tail(log: Path, lines: int = 25) -> str:
    """Return the last lines of a log file, or a note that it is empty."""
    try:
        text = log.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log written)"
    return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"
