"""The demo: agents report token usage, and kubectl shows it as AgentObservations.

    python -m devenv.demo                  run the demo, print the results, clean up
    python -m devenv.demo --keep-running   leave everything running and print how to reach it

It starts a local kube-apiserver with etcd and a PostgreSQL server, applies the
CRD and three sample AgentObservations in two namespaces, starts `agentobs run`,
and runs three sample agents with the agentobs client library (one through a
LangChain chat model), each authenticated by a ServiceAccount token from the
TokenRequest API. It then checks that kubectl shows exactly what the agents
recorded and exits non-zero if it does not.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from devenv import plans
from devenv.controlplane import ControlPlane
from devenv.postgres import PostgresServer
from devenv.service import AgentobsProcess, wait_for

HACK = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class SampleAgent:
    """One sample agent: where it runs, what it calls and how it records."""

    namespace: str
    name: str
    service_account: str
    models: tuple[str, ...]
    seed: int
    langchain: bool = False


AGENTS = (
    SampleAgent("research", "planner", "planner", ("gpt-4o", "o4-mini"), seed=11),
    SampleAgent(
        "research", "coder", "coder", ("claude-sonnet-4", "claude-haiku-4"), seed=12, langchain=True
    ),
    SampleAgent("support", "triage-bot", "triage-bot", ("gpt-4o-mini",), seed=13),
)
ROUNDS = 25


def say(text: str) -> None:
    print(text, flush=True)


def create_objects(plane: ControlPlane) -> None:
    for agent in AGENTS:
        plane.create_namespace(agent.namespace)
        plane.create_service_account(agent.namespace, agent.service_account)
        plane.apply(
            {
                "apiVersion": "agentobs.dev/v1alpha1",
                "kind": "AgentObservation",
                "metadata": {"name": agent.name, "namespace": agent.namespace},
                "spec": {"serviceAccountName": agent.service_account, "staleAfterSeconds": 60},
            }
        )


def start_agent(
    plane: ControlPlane, service: AgentobsProcess, folder: Path, agent: SampleAgent
) -> subprocess.Popen[str]:
    plan_file = folder / f"plan-{agent.name}.json"
    plan_file.write_text(json.dumps(plans.build_plan(agent.seed, ROUNDS, agent.models)))
    token_file = folder / f"token-{agent.name}"
    token_file.write_text(plane.create_token(agent.namespace, agent.service_account))
    environment = {
        **{key: value for key, value in os.environ.items() if not key.startswith("AGENTOBS_")},
        "AGENTOBS_URL": service.url,
        "AGENTOBS_AGENT_NAME": agent.name,
        "AGENTOBS_NAMESPACE": agent.namespace,
        "AGENTOBS_TOKEN_FILE": str(token_file),
        "PYTHONPATH": str(HACK),
    }
    argv = [
        sys.executable,
        "-m",
        "devenv.sample_agent",
        "--plan",
        str(plan_file),
        "--pause",
        "0.3",
        "--interval",
        "1",
    ]
    if agent.langchain:
        argv.append("--langchain")
    return subprocess.Popen(
        argv, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def shown_totals(plane: ControlPlane) -> dict[tuple[str, str], int]:
    listing = json.loads(plane.kubectl("get", "agentobservations", "-A", "-o", "json"))
    return {
        (item["metadata"]["namespace"], item["metadata"]["name"]): int(
            ((item.get("status") or {}).get("usage") or {}).get("totalTokens") or 0
        )
        for item in listing["items"]
    }


def run_agents(plane: ControlPlane, service: AgentobsProcess, folder: Path) -> bool:
    """Run the agents to the end; return whether kubectl shows exactly what they recorded."""
    say("\n== running 3 sample agents (one through LangChain) ==")
    running = {agent: start_agent(plane, service, folder, agent) for agent in AGENTS}
    time.sleep(4)
    say("\n$ kubectl get agentobservations -A        # while the agents run")
    say(plane.kubectl("get", "agentobservations", "-A").rstrip())

    expected: dict[tuple[str, str], int] = {}
    for agent, process in running.items():
        stdout, stderr = process.communicate(timeout=300)
        if process.returncode != 0:
            say(f"agent {agent.namespace}/{agent.name} failed:\n{stderr[-2000:]}")
            return False
        report = json.loads(stdout.strip().splitlines()[-1])
        expected[(agent.namespace, agent.name)] = report["input_tokens"] + report["output_tokens"]

    try:
        wait_for(
            lambda: all(shown_totals(plane).get(key) == value for key, value in expected.items()),
            timeout=60,
            what="kubectl to show the recorded totals",
        )
    except AssertionError as error:
        say(f"\nthe demo failed: {error}")
        return False

    say("\n$ kubectl get agentobservations -A        # after the agents finished")
    say(plane.kubectl("get", "agentobservations", "-A").rstrip())
    say(
        "\nrecorded by the agents (input + output): "
        + ", ".join(
            f"{namespace}/{name}={value}" for (namespace, name), value in sorted(expected.items())
        )
    )
    say("the TOKENS column equals them exactly.")
    say("\n$ curl -s .../metrics | grep -E 'agentobs_(tokens|calls)_total{.*planner'")
    lines = [
        line
        for line in service.metrics().splitlines()
        if line.startswith("agentobs_tokens_total{") and 'agentobservation="planner"' in line
    ]
    lines += [
        line
        for line in service.metrics().splitlines()
        if line.startswith("agentobs_calls_total{") and 'agentobservation="planner"' in line
    ]
    say("\n".join(lines))
    return True


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="make demo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--keep-running", action="store_true", help="leave everything running until Ctrl-C"
    )
    arguments = parser.parse_args()
    # SIGTERM cleans up like Ctrl-C: the services run in their own sessions and would
    # otherwise outlive the demo.
    signal.signal(signal.SIGTERM, signal.default_int_handler)

    folder = Path(tempfile.mkdtemp(prefix="agentobs-demo-"))
    say("== starting etcd, kube-apiserver and PostgreSQL on 127.0.0.1 ==")
    plane = ControlPlane.start()
    database = PostgresServer.create()
    service = None
    succeeded = False
    try:
        plane.apply_crd()
        create_objects(plane)
        service = AgentobsProcess(
            command="run",
            database_url=database.dsn,
            kubeconfig=plane.kubeconfig,
            log=folder / "agentobs.log",
            extra_args=("--status-interval", "2"),
        )
        service.start()
        say(f"agentobs run is serving on {service.url} (log: {service.log})")
        succeeded = run_agents(plane, service, folder)
        if arguments.keep_running:
            say("\n== everything keeps running; press Ctrl-C to stop and clean up ==")
            say(f"export KUBECONFIG={plane.kubeconfig}")
            say(f"kubectl:   {plane.kubectl_path}")
            say(
                f"agentobs:  {service.url}  (heartbeats: {service.url}/v1/heartbeats, "
                f"metrics: {service.url}/metrics)"
            )
            say(f"postgres:  {database.dsn}")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
        return 0 if succeeded else 1
    finally:
        say("\n== cleaning up ==")
        if service is not None:
            service.stop()
        database.destroy()
        plane.destroy()
        # A failed demo keeps the agentobs log and the agents' plans for a look.
        if succeeded:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            say(f"the agentobs log and the plans are kept in {folder}")


if __name__ == "__main__":
    sys.exit(main())
