"""The AgentObservation CRD on a real kube-apiserver: kubectl shows exact token totals."""

from __future__ import annotations

import json

from devenv.controlplane import ControlPlane


def create_observation(
    plane: ControlPlane, namespace: str, name: str, agent: str | None = None
) -> None:
    spec: dict[str, object] = {}
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


def write_usage(
    plane: ControlPlane, namespace: str, name: str, agent: str, usage: dict[str, object]
) -> None:
    patch = json.dumps({"status": {"agent": agent, "usage": usage}})
    plane.kubectl(
        "patch",
        "agentobservation",
        name,
        "--namespace",
        namespace,
        "--subresource",
        "status",
        "--type",
        "merge",
        "--patch",
        patch,
    )


def table(output: str) -> list[list[str]]:
    return [line.split() for line in output.strip().splitlines()]


def test_kubectl_shows_totals_beyond_32_bits(control_plane: ControlPlane, namespace: str) -> None:
    create_observation(control_plane, namespace, "planner", agent="planner-agent")
    write_usage(
        control_plane,
        namespace,
        "planner",
        "planner-agent",
        {
            "inputTokens": 4_000_000_000,
            "outputTokens": 1_000_000_000,
            "totalTokens": 5_000_000_000,
            "lastHeartbeatTime": "2026-01-02T03:04:05Z",
        },
    )

    rows = table(control_plane.kubectl("get", "agentobservations", "--namespace", namespace))

    assert rows[0] == ["NAME", "AGENT", "TOKENS", "INPUT", "OUTPUT", "LAST", "HEARTBEAT", "AGE"]
    assert rows[1][:5] == ["planner", "planner-agent", "5000000000", "4000000000", "1000000000"]


def test_short_name_lists_the_same_objects(control_plane: ControlPlane, namespace: str) -> None:
    create_observation(control_plane, namespace, "triage-bot")
    write_usage(
        control_plane,
        namespace,
        "triage-bot",
        "triage-bot",
        {
            "inputTokens": 80113,
            "outputTokens": 10098,
            "totalTokens": 90211,
        },
    )

    by_plural = control_plane.kubectl("get", "agentobservations", "-n", namespace, "-o", "name")
    by_short_name = control_plane.kubectl("get", "ao", "-n", namespace, "-o", "name")
    rows = table(control_plane.kubectl("get", "ao", "-n", namespace))

    assert by_short_name == by_plural == "agentobservation.agentobs.dev/triage-bot\n"
    assert rows[1][0] == "triage-bot"
    assert rows[1][1:5] == ["triage-bot", "90211", "80113", "10098"]


def test_status_is_written_only_through_the_subresource(
    control_plane: ControlPlane, namespace: str
) -> None:
    create_observation(control_plane, namespace, "writer")
    control_plane.kubectl(
        "patch",
        "agentobservation",
        "writer",
        "-n",
        namespace,
        "--type",
        "merge",
        "--patch",
        json.dumps({"status": {"usage": {"totalTokens": 7}}}),
    )

    stored = json.loads(control_plane.kubectl("get", "ao", "writer", "-n", namespace, "-o", "json"))

    assert "status" not in stored or "usage" not in stored["status"]


def test_token_request_sets_agentobs_audience(control_plane: ControlPlane, namespace: str) -> None:
    control_plane.create_service_account(namespace, "agent")
    token = control_plane.create_token(namespace, "agent", audience="agentobs")

    review = json.loads(
        control_plane.kubectl(
            "create",
            "-o",
            "json",
            "-f",
            "-",
            input=json.dumps(
                {
                    "apiVersion": "authentication.k8s.io/v1",
                    "kind": "TokenReview",
                    "spec": {"token": token, "audiences": ["agentobs"]},
                }
            ),
        )
    )

    assert review["status"]["authenticated"] is True
    assert review["status"]["user"]["username"] == f"system:serviceaccount:{namespace}:agent"
    assert review["status"]["audiences"] == ["agentobs"]
