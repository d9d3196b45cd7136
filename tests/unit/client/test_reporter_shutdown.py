"""Final flush of agent processes: on SIGTERM and at interpreter exit.

Each test runs a small agent in a subprocess against the heartbeat server and
checks that the server has stored every record after the process ended, or
that the agent warned about the records it could not deliver.

A shell without job control, such as `nohup bash -c 'make test' &`, starts
its background jobs with SIGINT ignored, and every child inherits that. So
each agent sets SIGINT and SIGTERM as a normally started Python process has
them before it does anything else.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator

import pytest
from heartbeat_server import HeartbeatServer

# Bound for a subprocess to start or end; reaching it fails the test.
PROCESS_LIMIT = 60.0

RESET_SIGNALS = """
import signal
signal.signal(signal.SIGINT, signal.default_int_handler)
signal.signal(signal.SIGTERM, signal.SIG_DFL)
"""

AGENT_PREAMBLE = (
    RESET_SIGNALS
    + """
import signal, sys, time
from agentobs_client import Reporter, UsageLedger

ledger = UsageLedger()
reporter = Reporter(
    ledger,
    url=sys.argv[1],
    agent_name="planner",
    namespace="research",
    interval=3600,
    backoff_initial=0.01,
    backoff_max=0.05,
    shutdown_timeout=float(sys.argv[2]),
    environ={},
)
"""
)

AgentStarter = Callable[..., subprocess.Popen[str]]


@pytest.fixture
def start_agent() -> Iterator[AgentStarter]:
    """Start agent processes; any still running at teardown is killed.

    The agent prints "ready" once its records are made. `stderr=True` captures
    its log output; otherwise it goes to the test's output. The reporter's
    shutdown timeout is `shutdown_timeout` seconds, 5 by default.
    """
    processes: list[subprocess.Popen[str]] = []

    def start(
        server: HeartbeatServer,
        body: str,
        *,
        stderr: bool = False,
        shutdown_timeout: float = 5.0,
    ) -> subprocess.Popen[str]:
        code = AGENT_PREAMBLE + textwrap.dedent(body)
        process = subprocess.Popen(
            [sys.executable, "-c", code, server.url, str(shutdown_timeout)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE if stderr else None,
            text=True,
        )
        processes.append(process)
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.communicate()


def wait_ready(process: subprocess.Popen[str]) -> None:
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"


def test_sigterm_flushes_and_still_terminates(
    heartbeat_server: HeartbeatServer, start_agent: AgentStarter
) -> None:
    process = start_agent(
        heartbeat_server,
        """
        ledger.record("gpt-4o", input_tokens=1234, output_tokens=56, cache_read_tokens=34)
        ledger.record_unreported("gpt-4o")
        print("ready", flush=True)
        time.sleep(600)
        """,
    )
    wait_ready(process)

    process.send_signal(signal.SIGTERM)

    assert process.wait(PROCESS_LIMIT) == -signal.SIGTERM
    totals = heartbeat_server.totals()
    assert totals["inputTokens"] == 1234
    assert totals["outputTokens"] == 56
    assert totals["cacheReadTokens"] == 34
    assert totals["calls"] == 1
    assert totals["unreportedCalls"] == 1
    assert heartbeat_server.bodies[-1]["final"] is True


def test_sigterm_flushes_an_asyncio_agent(
    heartbeat_server: HeartbeatServer, start_agent: AgentStarter
) -> None:
    process = start_agent(
        heartbeat_server,
        """
        import asyncio

        async def main():
            for _ in range(10):
                ledger.record("gpt-4o", input_tokens=10, output_tokens=1)
                await asyncio.sleep(0)
            print("ready", flush=True)
            await asyncio.sleep(600)

        asyncio.run(main())
        """,
    )
    wait_ready(process)

    process.send_signal(signal.SIGTERM)

    assert process.wait(PROCESS_LIMIT) == -signal.SIGTERM
    assert heartbeat_server.totals()["inputTokens"] == 100
    assert heartbeat_server.totals()["calls"] == 10


def test_sigterm_chains_to_the_program_handler(
    heartbeat_server: HeartbeatServer, start_agent: AgentStarter
) -> None:
    process = start_agent(
        heartbeat_server,
        """
        previous = signal.getsignal(signal.SIGTERM)

        def on_sigterm(signum, frame):
            print("program handler ran", flush=True)
            sys.exit(3)

        # The program's handler was there first; the reporter chains to it.
        signal.signal(signal.SIGTERM, on_sigterm)
        chained = Reporter(
            ledger, url=sys.argv[1], agent_name="planner", namespace="research", environ={}
        )
        reporter.close()
        ledger.record("gpt-4o", input_tokens=77, output_tokens=7)
        print("ready", flush=True)
        time.sleep(600)
        """,
    )
    wait_ready(process)

    process.send_signal(signal.SIGTERM)

    assert process.wait(PROCESS_LIMIT) == 3
    assert process.stdout is not None
    assert process.stdout.read().strip() == "program handler ran"
    assert heartbeat_server.totals()["inputTokens"] == 77


def test_ignored_sigterm_stays_ignored(
    heartbeat_server: HeartbeatServer, start_agent: AgentStarter
) -> None:
    process = start_agent(
        heartbeat_server,
        """
        reporter.close()
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        ignoring = Reporter(
            ledger, url=sys.argv[1], agent_name="planner", namespace="research", environ={}
        )
        ledger.record("gpt-4o", input_tokens=5)
        print("ready", flush=True)
        time.sleep(600)
        """,
    )
    wait_ready(process)

    process.send_signal(signal.SIGTERM)
    process.send_signal(signal.SIGINT)

    # SIGTERM did nothing, so SIGINT ends the process, which flushes at exit.
    assert process.wait(PROCESS_LIMIT) == -signal.SIGINT
    assert heartbeat_server.totals()["inputTokens"] == 5


def test_interpreter_exit_flushes_the_last_records(
    heartbeat_server: HeartbeatServer, start_agent: AgentStarter
) -> None:
    process = start_agent(
        heartbeat_server,
        """
        ledger.record("claude-sonnet-4-5", input_tokens=900, output_tokens=90)
        print("ready", flush=True)
        """,
    )
    wait_ready(process)

    assert process.wait(PROCESS_LIMIT) == 0
    assert heartbeat_server.totals()["inputTokens"] == 900
    assert heartbeat_server.bodies[-1]["final"] is True


def test_unreachable_receiver_at_exit_is_warned(
    idle_server: HeartbeatServer, start_agent: AgentStarter
) -> None:
    """The receiver refuses every connection, so the final flush at exit fails."""
    process = start_agent(
        idle_server,
        """
        ledger.record("gpt-4o", input_tokens=300, output_tokens=20)
        ledger.record_unreported("gpt-4o")
        print("ready", flush=True)
        """,
        stderr=True,
        shutdown_timeout=0.5,
    )
    wait_ready(process)

    _, stderr = process.communicate(timeout=PROCESS_LIMIT)

    # The exit status stays the program's own, so only the warning tells the user.
    assert process.returncode == 0
    warnings = [line for line in stderr.splitlines() if "records not delivered" in line]
    assert len(warnings) == 1
    assert "tokens=320 calls=2" in warnings[0]
    assert "namespace=research agent=planner" in warnings[0]
    assert "error=URLError" in warnings[0]
    assert "AGENTOBS_URL" in warnings[0]


def test_rejected_final_heartbeat_on_sigterm_is_warned(
    heartbeat_server: HeartbeatServer, start_agent: AgentStarter
) -> None:
    heartbeat_server.sticky_fault = "401"
    process = start_agent(
        heartbeat_server,
        """
        ledger.record("gpt-4o", input_tokens=40, output_tokens=2)
        print("ready", flush=True)
        time.sleep(600)
        """,
        stderr=True,
    )
    wait_ready(process)

    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=PROCESS_LIMIT)

    assert process.returncode == -signal.SIGTERM
    warnings = [line for line in stderr.splitlines() if "records not delivered" in line]
    assert len(warnings) == 1
    assert "tokens=42 calls=1" in warnings[0]
    assert "status=401 error=invalid_token" in warnings[0]
    assert heartbeat_server.totals()["inputTokens"] == 0


@pytest.mark.parametrize("handle_sigterm", [True, False])
def test_reporter_in_a_thread_leaves_sigterm_alone(handle_sigterm: bool) -> None:
    code = RESET_SIGNALS + textwrap.dedent(
        f"""
        import signal, threading
        from agentobs_client import Reporter, UsageLedger

        def build():
            Reporter(
                UsageLedger(), url="http://127.0.0.1:9", agent_name="planner",
                namespace="research", environ={{}}, handle_sigterm={handle_sigterm},
                shutdown_timeout=0.1,
            )

        thread = threading.Thread(target=build)
        thread.start()
        thread.join()
        print(signal.getsignal(signal.SIGTERM) is signal.SIG_DFL)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=PROCESS_LIMIT,
        check=True,
    )
    assert result.stdout.strip() == "True"
