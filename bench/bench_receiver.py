"""Benchmark of the heartbeat receiver against a bare aiohttp handler.

Starts a throwaway PostgreSQL (hack/devenv/postgres.py), the real receiver (static
token authentication, every heartbeat committed) and a bare aiohttp handler that
reads the body and returns 204, each in its own process. A load generator, also in
its own process, offers a fixed rate of heartbeats for a bounded time. The load is
open loop: request i is due at start + i / rate. Bodies carry three models and come
from 200 instances of 20 agents. Latency is measured from the due time, so queueing
in the generator counts against the server.

    python bench/bench_receiver.py [--rates 250,1000,2000] [--seconds 10]

Prints a Markdown table; after the receiver runs it checks that the store contains
exactly the acknowledged counters.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parents[1]
TOKEN = "bench-static-token-0123456789abcdef"
AGENTS = 20
INSTANCES_PER_AGENT = 10
MAX_IN_FLIGHT = 512


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# Load generator (runs in its own process)


def heartbeat_body(index: int) -> tuple[str, bytes, int]:
    """Return the instance key, the body and the sequence of the index-th heartbeat."""
    instance_count = AGENTS * INSTANCES_PER_AGENT
    slot = index % instance_count
    sequence = index // instance_count + 1
    agent = f"agent-{slot % AGENTS}"
    instance = f"bench-{slot}"
    usage = [
        {
            "model": model,
            "inputTokens": sequence * 1200 * weight,
            "outputTokens": sequence * 150 * weight,
            "cacheReadTokens": sequence * 400 * weight,
            "calls": sequence * weight,
        }
        for model, weight in (("gpt-4o", 3), ("claude-sonnet-4", 2), ("gemini-2.5-pro", 1))
    ]
    body = {
        "namespace": "bench",
        "agent": agent,
        "instance": instance,
        "sequence": sequence,
        "startedAt": "2026-12-04T10:00:00Z",
        "usage": usage,
    }
    return f"{agent}/{instance}", json.dumps(body).encode(), sequence


async def offer_load(url: str, rate: float, seconds: float) -> dict[str, Any]:
    total = int(rate * seconds)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    acknowledged: dict[str, int] = {}
    errors = 0
    limit = asyncio.Semaphore(MAX_IN_FLIGHT)
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=MAX_IN_FLIGHT)

    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(index: int, due: float) -> None:
            nonlocal errors
            key, body, sequence = heartbeat_body(index)
            async with limit:
                try:
                    async with session.post(url, data=body, headers=headers) as response:
                        await response.read()
                        status = response.status
                except (aiohttp.ClientError, OSError):
                    errors += 1
                    return
            latencies.append(time.perf_counter() - due)
            statuses[status] = statuses.get(status, 0) + 1
            if status in (200, 204):
                acknowledged[key] = max(acknowledged.get(key, 0), sequence)

        start = time.perf_counter() + 0.2
        tasks = []
        for index in range(total):
            due = start + index / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(index, due)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start

    succeeded = sum(count for status, count in statuses.items() if status in (200, 204))
    latencies.sort()
    return {
        "offered": rate,
        "sent": total,
        "succeeded": succeeded,
        "statuses": statuses,
        "errors": errors,
        "throughput": succeeded / elapsed,
        "p50_ms": 1000 * statistics.median(latencies) if latencies else None,
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))] if latencies else None,
        "acknowledged": acknowledged,
    }


def run_load(url: str, rate: float, seconds: float) -> dict[str, Any]:
    """Run the load generator in a separate Python process and return its result."""
    output = subprocess.run(
        [sys.executable, __file__, "--generate", url, str(rate), str(seconds)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, Any] = json.loads(output)
    return result


# Servers


BARE_SERVER = """
import sys
from aiohttp import web

async def heartbeat(request):
    await request.read()
    return web.Response(status=204)

app = web.Application()
app.router.add_post("/v1/heartbeats", heartbeat)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""

RECEIVER_SERVER = """
import asyncio, json, logging, sys
from pathlib import Path
from agentobs.cli import event_loop_factory
from agentobs.receiver import serve
from agentobs.settings import ReceiverSettings

fields = json.loads(sys.argv[1])
fields["static_token_file"] = Path(fields["static_token_file"])
logging.basicConfig(level=logging.WARNING)
# The same event loop as the agentobs command runs.
with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
    runner.run(serve(ReceiverSettings(**fields)))
"""


def wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with code {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"server on port {port} did not start within 60 s")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


async def check_store(dsn: str, acknowledged: dict[str, int]) -> str:
    """Compare the stored calls with the acknowledged heartbeats (calls = 6 x sequence)."""
    import asyncpg  # type: ignore[import-untyped]

    connection = await asyncpg.connect(dsn)
    try:
        stored = await connection.fetchval(
            "SELECT coalesce(sum(calls), 0) FROM model_totals WHERE namespace = 'bench'"
        )
    finally:
        await connection.close()
    stored = int(stored)
    expected = sum(6 * sequence for sequence in acknowledged.values())
    verdict = "match" if stored >= expected else "MISSING"
    return f"stored calls {stored}, acknowledged {expected}: {verdict}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="250,1000,2000", help="offered heartbeats per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each run")
    parser.add_argument("--generate", nargs=3, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.generate:
        url, rate, seconds = arguments.generate
        print(json.dumps(asyncio.run(offer_load(url, float(rate), float(seconds)))))
        return

    sys.path.insert(0, str(REPO / "hack"))
    from devenv.postgres import PostgresServer

    rates = [float(rate) for rate in arguments.rates.split(",")]
    postgres = PostgresServer.create()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        token_file = postgres.root / "tokens.yaml"
        token_file.write_text(f"{TOKEN}: bench\n")
        bare_port, receiver_port = free_port(), free_port()
        settings = {
            "host": "127.0.0.1",
            "port": receiver_port,
            "dsn": postgres.dsn,
            "static_token_file": str(token_file),
            "max_unregistered_agents": 1000,
        }
        subprocess.run(
            [sys.executable, "-c", MIGRATE, postgres.dsn], check=True, env=_environment()
        )
        bare = subprocess.Popen([sys.executable, "-c", BARE_SERVER, str(bare_port)])
        receiver = subprocess.Popen(
            [sys.executable, "-c", RECEIVER_SERVER, json.dumps(settings)], env=_environment()
        )
        processes += [bare, receiver]
        wait_for_port(bare_port, bare)
        wait_for_port(receiver_port, receiver)

        print(f"cpus={os.cpu_count()} seconds={arguments.seconds} python={sys.version.split()[0]}")
        print(
            "| offered/s | bare hb/s | bare p50 ms | bare p99 ms | receiver hb/s "
            "| receiver p50 ms | receiver p99 ms | ratio | receiver non-2xx |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        acknowledged: dict[str, int] = {}
        # Warm up both servers (connections, prepared statements, the database pool).
        for port in (bare_port, receiver_port):
            warm = run_load(f"http://127.0.0.1:{port}/v1/heartbeats", 200, 2)
            for key, sequence in warm["acknowledged"].items():
                acknowledged[key] = max(acknowledged.get(key, 0), sequence)
        for rate in rates:
            base = run_load(f"http://127.0.0.1:{bare_port}/v1/heartbeats", rate, arguments.seconds)
            real = run_load(
                f"http://127.0.0.1:{receiver_port}/v1/heartbeats", rate, arguments.seconds
            )
            for key, sequence in real["acknowledged"].items():
                acknowledged[key] = max(acknowledged.get(key, 0), sequence)
            failures = real["sent"] - real["succeeded"]
            print(
                f"| {rate:.0f} | {base['throughput']:.0f} | {base['p50_ms']:.1f} "
                f"| {base['p99_ms']:.1f} | {real['throughput']:.0f} | {real['p50_ms']:.1f} "
                f"| {real['p99_ms']:.1f} | {real['throughput'] / base['throughput']:.2f} "
                f"| {failures} |",
                flush=True,
            )
        print(asyncio.run(check_store(postgres.dsn, acknowledged)))
    finally:
        for process in processes:
            stop(process)
        postgres.destroy()


MIGRATE = """
import asyncio, sys
from agentobs.store import Store

async def main():
    store = await Store.connect(sys.argv[1])
    await store.migrate()
    await store.close()

asyncio.run(main())
"""


def _environment() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO / "operator")}


if __name__ == "__main__":
    main()
