"""The main job end to end: agents report, and kubectl shows the exact token totals.

Everything is real: kube-apiserver and etcd, PostgreSQL, `agentobs run` as a
process, and agent processes that use the agentobs client library with
ServiceAccount tokens minted by the TokenRequest API.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from devenv.controlplane import ControlPlane
from devenv.service import AgentobsProcess, wait_for

StartAgentobs = Callable[..., AgentobsProcess]

MODELS = ("gpt-4o", "claude-sonnet-4", "gpt-4o-mini")


def build_plan(seed: int, rounds: int, models: tuple[str, ...]) -> list[list[dict[str, int | str]]]:
    """Rounds of calls with realistic token sizes, the same for the same seed."""
    rng = random.Random(seed)
    plan = []
    for _ in range(rounds):
        calls: list[dict[str, int | str]] = []
        for _ in range(rng.randint(1, 3)):
            input_tokens = rng.randint(500, 30_000)
            output_tokens = rng.randint(50, 3_000)
            calls.append(
                {
                    "model": rng.choice(models),
                    "input_tokens": input_tokens,
                    "output_tokens": output_tokens,
                    "cache_read_tokens": rng.randint(0, input_tokens // 2),
                    "reasoning_tokens": rng.randint(0, output_tokens // 3),
                }
            )
        plan.append(calls)
    return plan


def plan_totals(plan: list[list[dict[str, Any]]]) -> dict[str, int]:
    calls = [call for round_ in plan for call in round_]
    input_tokens = sum(call["input_tokens"] for call in calls)
    output_tokens = sum(call["output_tokens"] for call in calls)
    return {
        "input": input_tokens,
        "output": output_tokens,
        "total": input_tokens + output_tokens,
        "calls": len(calls),
    }


def create_observation(
    plane: ControlPlane,
    namespace: str,
    name: str,
    *,
    service_account: str,
    agent: str | None = None,
) -> None:
    spec: dict[str, Any] = {"serviceAccountName": service_account}
    if agent is not None:
        spec["agentRef"] = {"name": agent}
    plane.apply(
        {
            "apiVersion": "agentobs.dev/v1alpha1",
            "kind": "AgentObservation",
            "metadata": {"name": name, "namespace": namespace},
            "spec": spec,
        }
    )


def start_agent(
    plane: ControlPlane,
    service: AgentobsProcess,
    tmp_path: Path,
    *,
    namespace: str,
    agent: str,
    service_account: str,
    plan: list[list[dict[str, Any]]],
    langchain: bool = False,
    pause: float = 0.2,
) -> subprocess.Popen[str]:
    plan_file = tmp_path / f"plan-{namespace}-{agent}.json"
    plan_file.write_text(json.dumps(plan))
    token_file = tmp_path / f"token-{namespace}-{service_account}"
    token_file.write_text(plane.create_token(namespace, service_account))
    environment = {
        "AGENTOBS_URL": service.url,
        "AGENTOBS_AGENT_NAME": agent,
        "AGENTOBS_NAMESPACE": namespace,
        "AGENTOBS_TOKEN_FILE": str(token_file),
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "hack"),
    }
    argv = [
        sys.executable,
        "-m",
        "devenv.sample_agent",
        "--plan",
        str(plan_file),
        "--pause",
        str(pause),
    ]
    if langchain:
        argv.append("--langchain")
    return subprocess.Popen(
        argv, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


COLUMNS = ("NAMESPACE", "NAME", "AGENT", "TOKENS", "INPUT", "OUTPUT", "LAST HEARTBEAT", "AGE")


def kubectl_rows(plane: ControlPlane, *namespaces: str) -> dict[tuple[str, str], dict[str, str]]:
    """Parse `kubectl get agentobservations -A` by the header's column offsets."""
    lines = plane.kubectl("get", "agentobservations", "-A").rstrip().splitlines()
    header = lines[0]
    labels = list(re.finditer(r"\S+(?: \S+)*", header))
    assert [label.group() for label in labels] == list(COLUMNS)
    starts = [label.start() for label in labels]
    ends = [*starts[1:], None]
    rows = {}
    for line in lines[1:]:
        cells = {
            column: line[start:end].strip()
            for column, start, end in zip(COLUMNS, starts, ends, strict=True)
        }
        if cells["NAMESPACE"] in namespaces:
            rows[(cells["NAMESPACE"], cells["NAME"])] = cells
    return rows


def shown_tokens(plane: ControlPlane, key: tuple[str, str]) -> int:
    cell = kubectl_rows(plane, key[0]).get(key, {}).get("TOKENS", "")
    return int(cell) if cell.isdigit() else 0


def metric_sums(text: str) -> dict[tuple[str, str], dict[str, int]]:
    """Sum agentobs_tokens_total per object and kind from the exposition text."""
    sums: dict[tuple[str, str], dict[str, int]] = {}
    pattern = re.compile(r"^agentobs_tokens_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$")
    for line in text.splitlines():
        match = pattern.match(line)
        if match is None:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match["labels"]))
        key = (labels["namespace"], labels["agentobservation"])
        kinds = sums.setdefault(key, {})
        kinds[labels["kind"]] = kinds.get(labels["kind"], 0) + int(float(match["value"]))
    return sums


@pytest.fixture
def namespaces(control_plane: ControlPlane) -> Iterator[tuple[str, str]]:
    """Two new namespaces; their AgentObservations are deleted afterwards."""
    pair = (f"research-{uuid.uuid4().hex[:6]}", f"support-{uuid.uuid4().hex[:6]}")
    for name in pair:
        control_plane.create_namespace(name)
    yield pair
    for name in pair:
        control_plane.kubectl(
            "delete", "agentobservations", "--all", "-n", name, "--wait=false", check=False
        )


@pytest.fixture
def reader_token(control_plane: ControlPlane, namespaces: tuple[str, str]) -> str:
    """A token allowed to get AgentObservations everywhere, for the usage API."""
    namespace = namespaces[0]
    control_plane.create_service_account(namespace, "usage-reader")
    control_plane.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "agentobs-e2e-usage-reader"},
            "rules": [
                {
                    "apiGroups": ["agentobs.dev"],
                    "resources": ["agentobservations"],
                    "verbs": ["get", "list"],
                }
            ],
        }
    )
    control_plane.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": f"agentobs-e2e-usage-reader-{namespace}"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "agentobs-e2e-usage-reader",
            },
            "subjects": [
                {"kind": "ServiceAccount", "name": "usage-reader", "namespace": namespace}
            ],
        }
    )
    return control_plane.kubectl("create", "token", "usage-reader", "-n", namespace).strip()


def test_kubectl_shows_exact_totals_through_a_crash(
    control_plane: ControlPlane,
    start_agentobs: StartAgentobs,
    namespaces: tuple[str, str],
    reader_token: str,
    tmp_path: Path,
) -> None:
    research, support = namespaces
    for namespace, account in ((research, "planner"), (research, "coder"), (support, "triage")):
        control_plane.create_service_account(namespace, account)
    create_observation(control_plane, research, "planner", service_account="planner")
    create_observation(
        control_plane, research, "coder", service_account="coder", agent="coder-agent"
    )
    create_observation(control_plane, support, "triage", service_account="triage")
    service = start_agentobs("run", "--status-interval", "1", "--resync-interval", "30")

    plans = {
        (research, "planner"): build_plan(1, 40, MODELS),
        (research, "coder"): build_plan(2, 40, MODELS[:2]),
        (support, "triage"): build_plan(3, 40, MODELS[1:]),
    }
    agents = {
        (research, "planner"): start_agent(
            control_plane,
            service,
            tmp_path,
            namespace=research,
            agent="planner",
            service_account="planner",
            plan=plans[(research, "planner")],
        ),
        (research, "coder"): start_agent(
            control_plane,
            service,
            tmp_path,
            namespace=research,
            agent="coder-agent",
            service_account="coder",
            plan=plans[(research, "coder")],
            langchain=True,
        ),
        (support, "triage"): start_agent(
            control_plane,
            service,
            tmp_path,
            namespace=support,
            agent="triage",
            service_account="triage",
            plan=plans[(support, "triage")],
        ),
    }

    # Crash the service mid-stream, once some usage has been projected.
    wait_for(
        lambda: shown_tokens(control_plane, (research, "planner")) > 0,
        timeout=60,
        what="first projected tokens",
    )
    service.kill()
    time.sleep(1.5)
    service.start()

    reports = {}
    for key, agent in agents.items():
        stdout, stderr = agent.communicate(timeout=180)
        assert agent.returncode == 0, f"agent {key} failed: {stderr[-2000:]}"
        reports[key] = json.loads(stdout.strip().splitlines()[-1])
    expected = {key: plan_totals(plan) for key, plan in plans.items()}
    for key, report in reports.items():
        assert report["delivered"] is True
        assert (report["input_tokens"], report["output_tokens"], report["calls"]) == (
            expected[key]["input"],
            expected[key]["output"],
            expected[key]["calls"],
        )

    def shown() -> dict[tuple[str, str], tuple[int, int, int]]:
        rows = kubectl_rows(control_plane, research, support)
        return {
            key: (int(row["TOKENS"]), int(row["INPUT"]), int(row["OUTPUT"]))
            for key, row in rows.items()
            if row["TOKENS"].isdigit()
        }

    wanted = {
        key: (value["total"], value["input"], value["output"]) for key, value in expected.items()
    }
    wait_for(lambda: shown() == wanted, timeout=60, what=f"kubectl to show {wanted}")
    print("\n" + control_plane.kubectl("get", "agentobservations", "-n", research))
    print(control_plane.kubectl("get", "agentobservations", "-n", support))

    for (namespace, name), totals in expected.items():
        usage = service.get_json(
            f"/v1/namespaces/{namespace}/agentobservations/{name}/usage", token=reader_token
        )
        assert usage["totals"]["totalTokens"] == totals["total"]
        assert usage["totals"]["inputTokens"] == totals["input"]
        assert usage["totals"]["outputTokens"] == totals["output"]
        assert usage["totals"]["calls"] == totals["calls"]

    sums = metric_sums(service.metrics())
    for key, totals in expected.items():
        assert sums[key]["input"] == totals["input"]
        assert sums[key]["output"] == totals["output"]

    coder = json.loads(control_plane.kubectl("get", "ao", "coder", "-n", research, "-o", "json"))
    assert coder["status"]["agent"] == "coder-agent"
    assert coder["status"]["usage"]["calls"] == expected[(research, "coder")]["calls"]
    reporting = [c for c in coder["status"]["conditions"] if c["type"] == "Reporting"]
    assert reporting[0]["status"] == "True"
