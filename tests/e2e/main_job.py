"""Building blocks of the main job, shared by the end-to-end tests that run it.

Plans of model calls, agent processes that play them with the agentobs client
library, and readers of what kubectl and /metrics show.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from devenv.controlplane import ControlPlane
from devenv.service import AgentobsProcess

StartAgentobs = Callable[..., AgentobsProcess]

MODELS = ("gpt-4o", "claude-sonnet-4", "gpt-4o-mini")


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
