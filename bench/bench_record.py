"""Cost of `UsageLedger.record()` next to prometheus_client's `Counter.labels().inc()`.

Both run in the same process, with 1 and with 8 threads, and the script prints
nanoseconds per operation (wall time divided by the operations of all threads,
best of several repeats) and the ratio of the two. This is a measurement, not a
test: it asserts nothing.

    python bench/bench_record.py [--ops 200000] [--repeats 5]

`record()` checks six arguments and adds them to one model's counters, while
the Prometheus call increments one labelled counter, so the comparison
favours prometheus_client.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import threading
import time
from collections.abc import Callable

import prometheus_client

from agentobs_client import UsageLedger

MODEL = "gpt-4o-2024-08-06"


def measure(operation: Callable[[], None], *, threads: int, ops: int, repeats: int) -> float:
    """Return the best nanoseconds per operation over `repeats` runs of `threads` threads."""
    best = float("inf")
    for _ in range(repeats):
        barrier = threading.Barrier(threads + 1)

        workers = [
            threading.Thread(target=_run, args=(operation, barrier, ops)) for _ in range(threads)
        ]
        for worker in workers:
            worker.start()
        barrier.wait()
        started = time.perf_counter_ns()
        for worker in workers:
            worker.join()
        elapsed = time.perf_counter_ns() - started
        best = min(best, elapsed / (threads * ops))
    return best


def _run(operation: Callable[[], None], barrier: threading.Barrier, ops: int) -> None:
    barrier.wait()
    for _ in range(ops):
        operation()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", type=int, default=200_000, help="operations per thread")
    parser.add_argument(
        "--repeats", type=int, default=5, help="runs per case; the fastest is reported"
    )
    arguments = parser.parse_args()

    ledger = UsageLedger()
    counter = prometheus_client.Counter(
        "bench_tokens", "Tokens", ["model"], registry=prometheus_client.CollectorRegistry()
    )

    def record() -> None:
        ledger.record(MODEL, input_tokens=1200, output_tokens=80, cache_read_tokens=1024)

    def increment() -> None:
        counter.labels(MODEL).inc(1280)

    print(
        f"python {platform.python_version()}, "
        f"prometheus_client {importlib.metadata.version('prometheus-client')}, "
        f"{os.cpu_count()} CPUs, {arguments.ops} ops per thread, best of {arguments.repeats}"
    )
    header = f"{'threads':>7}  {'record() ns/op':>14}  {'labels().inc() ns/op':>20}  {'ratio':>6}"
    print(header)
    for threads in (1, 8):
        ledger_ns = measure(record, threads=threads, ops=arguments.ops, repeats=arguments.repeats)
        prometheus_ns = measure(
            increment, threads=threads, ops=arguments.ops, repeats=arguments.repeats
        )
        ratio = ledger_ns / prometheus_ns
        print(f"{threads:>7}  {ledger_ns:>14.0f}  {prometheus_ns:>20.0f}  {ratio:>6.2f}")


if __name__ == "__main__":
    main()
