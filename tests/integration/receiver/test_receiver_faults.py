"""Faults: Postgres stopping under load and SIGTERM lose no acknowledged heartbeat."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from agentobs.store import Store

pytestmark = pytest.mark.postgres

SERVE_SCRIPT = Path(__file__).with_name("serve_receiver.py")


class Sender:
    """One agent instance sending cumulative heartbeats, retrying 503s and network errors."""

    def __init__(self, url: str, token: str, instance: str) -> None:
        self.url = url
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.instance = instance
        self.acknowledged = 0
        self.failures = 0
        self.failed = asyncio.Event()
        self.statuses: list[int] = []

    def body(self, sequence: int) -> bytes:
        usage = [{"model": "gpt-4o", "inputTokens": sequence * 100, "calls": sequence}]
        return json.dumps(
            {
                "namespace": "research",
                "agent": "planner",
                "instance": self.instance,
                "sequence": sequence,
                "usage": usage,
            }
        ).encode()

    async def send(self, session: aiohttp.ClientSession, sequence: int) -> int:
        async with session.post(self.url, data=self.body(sequence), headers=self.headers) as answer:
            await answer.read()
            self.statuses.append(answer.status)
            if answer.status == 200:
                self.acknowledged = max(self.acknowledged, sequence)
            return answer.status

    async def send_until_stored(self, session: aiohttp.ClientSession, sequence: int) -> None:
        while True:
            try:
                status = await self.send(session, sequence)
            except (aiohttp.ClientError, OSError):
                status = 0
            if status == 200:
                return
            assert status in (0, 503), f"unexpected status {status}"
            self.failures += 1
            self.failed.set()
            await asyncio.sleep(0.05)


async def test_postgres_restart_loses_no_heartbeat(
    start_receiver: Callable[..., Awaitable[Any]],
    postgres_server: Any,
    store: Store,
    static_tokens: dict[str, str],
) -> None:
    await store.register_agent("research", "planner", "planner")
    receiver = await start_receiver(database_timeout_seconds=2.0)
    senders = [
        Sender(f"{receiver.url}/v1/heartbeats", static_tokens["research"], f"i-{index}")
        for index in range(4)
    ]
    restarted = asyncio.Event()

    async def stream(sender: Sender) -> None:
        sequence = 0
        async with aiohttp.ClientSession() as session:
            while not restarted.is_set() or sequence < 40:
                sequence += 1
                await sender.send_until_stored(session, sequence)

    async def outage() -> None:
        await asyncio.sleep(0.2)
        await asyncio.to_thread(postgres_server.stop)
        readiness = await receiver.session.get(f"{receiver.url}/readyz")
        assert readiness.status == 503
        assert "Retry-After" in readiness.headers
        await asyncio.gather(*(sender.failed.wait() for sender in senders))
        await restart(postgres_server)
        restarted.set()

    await asyncio.gather(outage(), *(stream(sender) for sender in senders))

    usage = await store.usage_of("research", "planner")
    assert usage is not None
    assert usage.totals.calls == sum(sender.acknowledged for sender in senders)
    assert usage.totals.input_tokens == 100 * usage.totals.calls
    assert (await receiver.session.get(f"{receiver.url}/readyz")).status == 200


async def test_sigterm_finishes_requests_and_keeps_acknowledged_heartbeats(
    database_dsn: str, store: Store, static_token_file: Path, static_tokens: dict[str, str]
) -> None:
    port = free_port()
    settings = {
        "host": "127.0.0.1",
        "port": port,
        "dsn": database_dsn,
        "static_token_file": str(static_token_file),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(SERVE_SCRIPT),
        json.dumps(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        await wait_until_healthy(url, process)
        senders = [
            Sender(f"{url}/v1/heartbeats", static_tokens["research"], f"i-{index}")
            for index in range(8)
        ]
        enough = asyncio.Event()

        async def stream(sender: Sender) -> None:
            async with aiohttp.ClientSession() as session:
                for sequence in range(1, 100_000):
                    try:
                        await sender.send(session, sequence)
                    except (aiohttp.ClientError, OSError):
                        return
                    if sum(len(other.statuses) for other in senders) >= 200:
                        enough.set()

        streams = [asyncio.create_task(stream(sender)) for sender in senders]
        await enough.wait()
        os.kill(process.pid, signal.SIGTERM)
        await asyncio.gather(*streams)
        output_bytes, _ = await asyncio.wait_for(process.communicate(), timeout=60)
        exit_code = process.returncode
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    output = output_bytes.decode()

    assert exit_code == 0, output
    assert "receiver stopped" in output
    async with store._connection() as connection:
        rows = await connection.fetch("SELECT instance, calls FROM instance_usage")
    stored = {row["instance"]: row["calls"] for row in rows}
    for sender in senders:
        assert sender.acknowledged > 0
        assert stored[sender.instance] >= sender.acknowledged
        assert set(sender.statuses) == {200}


async def restart(postgres_server: Any) -> None:
    """Start the stopped server again on its port and data folder."""
    await asyncio.to_thread(postgres_server.start)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def wait_until_healthy(url: str, process: asyncio.subprocess.Process) -> None:
    async with aiohttp.ClientSession() as session:
        while process.returncode is None:
            try:
                async with session.get(f"{url}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"receiver exited with code {process.returncode}")
