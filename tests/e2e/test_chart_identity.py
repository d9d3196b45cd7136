"""The chart's RBAC is enough for the main job, and its status rule is needed.

The chart is installed with the real helm binary into the session's API server.
`agentobs run` then talks to the API server as the chart's own ServiceAccount,
with a token minted by the TokenRequest API, as it would in its pod. There is no
kubelet, so the chart's pods never run: the process runs beside the API server.
"""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from main_job import (
    MODELS,
    StartAgentobs,
    create_observation,
    kubectl_rows,
    start_agent,
)

from devenv import binaries
from devenv.controlplane import ControlPlane
from devenv.plans import build_plan, plan_totals
from devenv.service import AgentobsProcess, wait_for

CHART = binaries.REPO / "charts" / "agentobs"

# kopf and kubernetes_asyncio report a denied request with one of these words.
PERMISSION_ERROR = re.compile(r"Forbidden|forbidden|\b403\b|[Pp]ermission")


@dataclass(frozen=True)
class Release:
    """One installed release of the chart and the names its RBAC objects got."""

    name: str
    namespace: str

    @property
    def fullname(self) -> str:
        # The chart names its ServiceAccount, ClusterRole and binding "<release>-agentobs".
        return f"{self.name}-agentobs"

    @property
    def user(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.fullname}"


def run_helm(
    plane: ControlPlane, home: Path, *args: str, values: dict[str, Any] | None = None
) -> None:
    """Run helm as the admin, with helm's state in `home` and any `values` on standard input."""
    environment = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
        "KUBECONFIG": str(plane.kubeconfig),
    }
    values_args = [] if values is None else ["--values", "-"]
    result = subprocess.run(
        [str(binaries.path_of("helm")), *args, *values_args],
        input=yaml.safe_dump(values) if values is not None else None,
        capture_output=True,
        text=True,
        env=environment,
        check=False,
    )
    assert result.returncode == 0, f"helm {' '.join(args)} failed:\n{result.stderr}"


@pytest.fixture
def release(control_plane: ControlPlane, tmp_path: Path) -> Iterator[Release]:
    """The chart installed in a new namespace, uninstalled afterwards."""
    suffix = uuid.uuid4().hex[:8]
    installed = Release(name=f"obs-{suffix}", namespace=f"agentobs-{suffix}")
    control_plane.create_namespace(installed.namespace)

    # The chart reads the DSN from a Secret. Its pods never run, so no database is behind it.
    control_plane.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "agentobs-database", "namespace": installed.namespace},
            "stringData": {"dsn": "postgresql://agentobs@db.example.internal:5432/agentobs"},
        }
    )

    # The session fixture has applied the CRD already. Without a kubelet, --wait would hang.
    home = tmp_path / "helm"
    values = {"database": {"existingSecret": "agentobs-database", "secretKey": "dsn"}}
    run_helm(
        control_plane,
        home,
        "install",
        installed.name,
        str(CHART),
        "--namespace",
        installed.namespace,
        "--skip-crds",
        values=values,
    )
    yield installed
    run_helm(control_plane, home, "uninstall", installed.name, "--namespace", installed.namespace)


def release_kubeconfig(plane: ControlPlane, release: Release, path: Path) -> Path:
    """Write a kubeconfig with a token of the release's ServiceAccount, as its pods would get."""
    token = plane.create_token(release.namespace, release.fullname, audience=None)
    kubeconfig = plane.kubeconfig_for_token(token, path)

    # The API server reports which user the kubeconfig authenticates as.
    review = json.loads(plane.kubectl("auth", "whoami", "-o", "json", kubeconfig=kubeconfig))
    assert review["status"]["userInfo"]["username"] == release.user
    return kubeconfig


def can_patch_status(plane: ControlPlane, user: str, namespace: str) -> bool:
    answer = plane.kubectl(
        "auth",
        "can-i",
        "patch",
        "agentobservations.agentobs.dev",
        "--subresource=status",
        "--namespace",
        namespace,
        "--as",
        user,
        check=False,
    )
    return answer.strip() == "yes"


def replace_cluster_role(plane: ControlPlane, role: dict[str, Any]) -> None:
    """Replace a ClusterRole without a resourceVersion, so the update is unconditional."""
    plane.kubectl("replace", "-f", "-", input=json.dumps(role))


def metric_value(service: AgentobsProcess, name: str) -> float:
    """Return one sample of the process's /metrics, 0 when the sample is absent."""
    pattern = re.compile(rf"^{re.escape(name)} (\S+)$", re.MULTILINE)
    match = pattern.search(service.metrics())
    return float(match.group(1)) if match else 0.0


def usage_of(plane: ControlPlane, namespace: str, name: str) -> dict[str, Any] | None:
    body = json.loads(plane.kubectl("get", "ao", name, "-n", namespace, "-o", "json"))
    usage = (body.get("status") or {}).get("usage")
    return dict(usage) if usage is not None else None


def permission_errors(log: Path) -> list[str]:
    return [line for line in log.read_text().splitlines() if PERMISSION_ERROR.search(line)]


@pytest.fixture
def agent_namespace(control_plane: ControlPlane) -> Iterator[str]:
    """A namespace for the agents, whose AgentObservations are deleted afterwards."""
    name = f"agents-{uuid.uuid4().hex[:8]}"
    control_plane.create_namespace(name)
    yield name
    control_plane.kubectl(
        "delete", "agentobservations", "--all", "-n", name, "--wait=false", check=False
    )


def run_agents(
    plane: ControlPlane,
    service: AgentobsProcess,
    tmp_path: Path,
    namespace: str,
    plans: dict[str, list[list[dict[str, Any]]]],
) -> None:
    """Run one agent per plan as its own ServiceAccount and check every record was delivered."""
    agents = {}
    for name, plan in plans.items():
        agents[name] = start_agent(
            plane,
            service,
            tmp_path,
            namespace=namespace,
            agent=name,
            service_account=name,
            plan=plan,
            pause=0.05,
        )
    for name, agent in agents.items():
        stdout, stderr = agent.communicate(timeout=180)
        assert agent.returncode == 0, f"agent {name} failed: {stderr[-2000:]}"
        assert json.loads(stdout.strip().splitlines()[-1])["delivered"] is True


def test_main_job_as_chart_service_account(
    control_plane: ControlPlane,
    start_agentobs: StartAgentobs,
    release: Release,
    agent_namespace: str,
    tmp_path: Path,
) -> None:
    kubeconfig = release_kubeconfig(control_plane, release, tmp_path / "release.kubeconfig")
    plans = {
        "planner": build_plan(11, 15, MODELS),
        "coder": build_plan(12, 15, MODELS[:2]),
        "triage": build_plan(13, 15, MODELS[1:]),
    }
    for name in plans:
        control_plane.create_service_account(agent_namespace, name)
        create_observation(control_plane, agent_namespace, name, service_account=name)
    service = start_agentobs(
        "run", "--status-interval", "1", "--resync-interval", "30", kubeconfig=kubeconfig
    )

    run_agents(control_plane, service, tmp_path, agent_namespace, plans)

    def shown() -> dict[str, tuple[int, int, int]]:
        rows = kubectl_rows(control_plane, agent_namespace)
        return {
            name: (int(row["TOKENS"]), int(row["INPUT"]), int(row["OUTPUT"]))
            for (_, name), row in rows.items()
            if row["TOKENS"].isdigit()
        }

    expected = {name: plan_totals(plan) for name, plan in plans.items()}
    expected_rows = {
        name: (totals["total"], totals["input"], totals["output"])
        for name, totals in expected.items()
    }
    wait_for(lambda: shown() == expected_rows, timeout=60, what=f"kubectl to show {expected_rows}")
    print("\n" + control_plane.kubectl("get", "agentobservations", "-n", agent_namespace))

    # Every status patch went through, and no component was denied anything.
    assert metric_value(service, "agentobs_projector_pass_failures_total") == 0
    assert metric_value(
        service, 'agentobs_projector_status_patches_total{result="patched"}'
    ) >= len(plans)
    assert permission_errors(service.log) == []


def test_status_unwritten_without_status_rule(
    control_plane: ControlPlane,
    start_agentobs: StartAgentobs,
    release: Release,
    agent_namespace: str,
    tmp_path: Path,
) -> None:
    """Removing the status rule from the release's ClusterRole stops status patches only."""
    kubeconfig = release_kubeconfig(control_plane, release, tmp_path / "release.kubeconfig")
    role = json.loads(control_plane.kubectl("get", "clusterrole", release.fullname, "-o", "json"))
    complete_rules = role["rules"]
    status_rules = [
        rule for rule in complete_rules if rule["resources"] == ["agentobservations/status"]
    ]
    assert len(status_rules) == 1

    # Replace the ClusterRole with the same rules minus the one on the status subresource.
    metadata = {key: role["metadata"][key] for key in ("name", "labels", "annotations")}
    denied_rules = [rule for rule in complete_rules if rule not in status_rules]
    replace_cluster_role(control_plane, {**role, "metadata": metadata, "rules": denied_rules})
    wait_for(
        lambda: not can_patch_status(control_plane, release.user, agent_namespace),
        timeout=30,
        what="the status rule to be removed",
    )

    plan = build_plan(21, 5, MODELS)
    control_plane.create_service_account(agent_namespace, "planner")
    create_observation(control_plane, agent_namespace, "planner", service_account="planner")
    service = start_agentobs(
        "run", "--status-interval", "1", "--resync-interval", "30", kubeconfig=kubeconfig
    )

    # Heartbeats still pass, because TokenReview and SubjectAccessReview are allowed.
    run_agents(control_plane, service, tmp_path, agent_namespace, {"planner": plan})

    failed = 'agentobs_projector_status_patches_total{result="failed"}'
    wait_for(
        lambda: metric_value(service, failed) >= 2,
        timeout=60,
        what="two failed status patches",
    )
    # One warning per object and failure streak, however often the patch is retried.
    subject = f"namespace={agent_namespace} agentobservation=planner "
    denied = [
        line
        for line in permission_errors(service.log)
        if "status patch failed" in line and subject in line
    ]
    print("\n" + "\n".join(denied))
    assert len(denied) == 1
    assert "HTTP 403" in denied[0]
    assert usage_of(control_plane, agent_namespace, "planner") is None
    assert metric_value(service, "agentobs_projector_pass_failures_total") == 0
    assert metric_value(service, 'agentobs_projector_status_patches_total{result="patched"}') == 0

    # With the rule back, the next pass writes the totals the store kept all along.
    replace_cluster_role(control_plane, {**role, "metadata": metadata, "rules": complete_rules})
    totals = plan_totals(plan)
    wait_for(
        lambda: (
            (usage_of(control_plane, agent_namespace, "planner") or {}).get("totalTokens")
            == totals["total"]
        ),
        timeout=60,
        what=f"status.usage.totalTokens to become {totals['total']}",
    )
    usage = usage_of(control_plane, agent_namespace, "planner") or {}
    assert usage["inputTokens"] == totals["input"]
    assert usage["outputTokens"] == totals["output"]
    assert usage["calls"] == totals["calls"]
