"""The main job end to end: agents report, and kubectl shows the exact token totals.

Everything is real: kube-apiserver and etcd, PostgreSQL, `agentobs run` as a
process, and agent processes that use the agentobs client library with
ServiceAccount tokens minted by the TokenRequest API.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from main_job import (
    MODELS,
    StartAgentobs,
    create_observation,
    kubectl_rows,
    metric_sums,
    shown_tokens,
    start_agent,
)

from devenv.controlplane import ControlPlane
from devenv.plans import build_plan, plan_totals
from devenv.service import wait_for


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
    listing = control_plane.kubectl("get", "agentobservations", "-A").splitlines()
    print(
        "\n"
        + "\n".join(
            line
            for line in listing[:1] + listing[1:]
            if line.startswith(("NAMESPACE", research, support))
        )
    )

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
