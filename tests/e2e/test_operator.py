"""The operator and projector as processes: leadership, staleness, patch rate and drift."""

from __future__ import annotations

import json
import re
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

import agentobs_client
from devenv.controlplane import ControlPlane
from devenv.service import AgentobsProcess, wait_for

StartAgentobs = Callable[..., AgentobsProcess]


def metric(service: AgentobsProcess, name: str, labels: str = "") -> float:
    pattern = re.compile(rf"^{re.escape(name)}{re.escape(labels)} (\S+)$", re.MULTILINE)
    match = pattern.search(service.metrics())
    return float(match.group(1)) if match else 0.0


def create_observation(plane: ControlPlane, namespace: str, name: str, **spec: Any) -> None:
    plane.apply(
        {
            "apiVersion": "agentobs.dev/v1alpha1",
            "kind": "AgentObservation",
            "metadata": {"name": name, "namespace": namespace},
            "spec": spec,
        }
    )


def read_object(plane: ControlPlane, namespace: str, name: str) -> dict[str, Any]:
    return dict(json.loads(plane.kubectl("get", "ao", name, "-n", namespace, "-o", "json")))


def total_tokens(plane: ControlPlane, namespace: str, name: str) -> int:
    status = read_object(plane, namespace, name).get("status") or {}
    return int((status.get("usage") or {}).get("totalTokens") or 0)


def reporting(plane: ControlPlane, namespace: str, name: str) -> dict[str, Any]:
    status = read_object(plane, namespace, name).get("status") or {}
    for condition in status.get("conditions") or []:
        if condition["type"] == "Reporting":
            return dict(condition)
    return {}


def reporter_for(
    plane: ControlPlane,
    service: AgentobsProcess,
    namespace: str,
    agent: str,
    interval: float = 0.1,
) -> tuple[agentobs_client.UsageLedger, agentobs_client.Reporter]:
    plane.create_service_account(namespace, agent)
    ledger = agentobs_client.UsageLedger()
    reporter = agentobs_client.Reporter(
        ledger,
        url=service.url,
        agent_name=agent,
        namespace=namespace,
        token=plane.create_token(namespace, agent),
        interval=interval,
        backoff_initial=0.1,
        backoff_max=0.5,
        handle_sigterm=False,
    )
    return ledger, reporter


def test_standby_takes_over_from_leader(
    control_plane: ControlPlane, start_agentobs: StartAgentobs, namespace: str
) -> None:
    create_observation(control_plane, namespace, "planner")
    receiver = start_agentobs("receiver")
    operators = [start_agentobs("operator", "--status-interval", "0.5") for _ in range(2)]
    wait_for(
        lambda: sum(metric(item, "agentobs_projector_leader") for item in operators) == 1,
        timeout=30,
        what="one leader",
    )
    leader, standby = sorted(operators, key=lambda item: -metric(item, "agentobs_projector_leader"))
    ledger, reporter = reporter_for(control_plane, receiver, namespace, "planner")

    ledger.record("gpt-4o", input_tokens=1000, output_tokens=10)
    assert reporter.flush(10)
    wait_for(
        lambda: total_tokens(control_plane, namespace, "planner") == 1010,
        timeout=30,
        what="the leader's projection",
    )
    patched = 'agentobs_projector_status_patches_total{result="patched"}'
    assert metric(standby, patched.split("{")[0], "{" + patched.split("{")[1]) == 0
    assert metric(standby, "agentobs_tokens_total") == 0

    leader.kill()
    started = time.monotonic()
    wait_for(
        lambda: metric(standby, "agentobs_projector_leader") == 1,
        timeout=30,
        what="the standby to take the leader lock",
    )
    takeover_seconds = time.monotonic() - started
    ledger.record("gpt-4o", input_tokens=2000, output_tokens=20)
    assert reporter.flush(10)
    wait_for(
        lambda: total_tokens(control_plane, namespace, "planner") == 3030,
        timeout=30,
        what="the new leader's projection",
    )
    reporter.close(10)
    print(f"\nstandby took over {takeover_seconds:.2f} s after the leader was killed")


def test_reporting_follows_heartbeats_with_events(
    control_plane: ControlPlane, start_agentobs: StartAgentobs, namespace: str
) -> None:
    create_observation(control_plane, namespace, "triage", staleAfterSeconds=10)
    service = start_agentobs("run", "--status-interval", "0.5")
    ledger, reporter = reporter_for(control_plane, service, namespace, "triage")

    ledger.record("claude-sonnet-4", input_tokens=50, output_tokens=5)
    assert reporter.flush(10)
    reporter.close(10)
    wait_for(
        lambda: reporting(control_plane, namespace, "triage").get("status") == "True",
        timeout=30,
        what="Reporting=True",
    )
    stopped = wait_for(
        lambda: (
            (condition := reporting(control_plane, namespace, "triage")).get("status") == "False"
            and condition
        ),
        timeout=60,
        what="Reporting=False after staleAfterSeconds",
    )
    assert stopped["reason"] == "HeartbeatsStopped"

    ledger, reporter = reporter_for(control_plane, service, namespace, "triage")
    ledger.record("claude-sonnet-4", input_tokens=1, output_tokens=1)
    assert reporter.flush(10)
    wait_for(
        lambda: reporting(control_plane, namespace, "triage").get("status") == "True",
        timeout=30,
        what="Reporting=True again",
    )
    reporter.close(10)

    events = json.loads(control_plane.kubectl("get", "events", "-n", namespace, "-o", "json"))
    reasons = [
        item["reason"] for item in events["items"] if item["involvedObject"]["name"] == "triage"
    ]
    assert reasons.count("ReportingStarted") == 2
    assert reasons.count("ReportingStopped") == 1


def test_patch_rate_stays_bounded_under_fast_heartbeats(
    control_plane: ControlPlane, start_agentobs: StartAgentobs, namespace: str
) -> None:
    interval = 2.0
    create_observation(control_plane, namespace, "busy")
    service = start_agentobs("run", "--status-interval", str(interval))
    # Heartbeats only on flush, so the object is idle between measurements.
    ledger, reporter = reporter_for(control_plane, service, namespace, "busy", interval=600)
    patched = ("agentobs_projector_status_patches_total", '{result="patched"}')

    # Freshness: from an acknowledged (committed) heartbeat to the status showing it,
    # with heartbeats spaced beyond the interval so that no patch waits for it.
    freshness = []
    for round_ in range(1, 9):
        time.sleep(interval)
        ledger.record("gpt-4o", input_tokens=100, output_tokens=1)
        expected = 101 * round_
        assert reporter.flush(10)
        committed = time.monotonic()
        wait_for(
            lambda expected=expected: total_tokens(control_plane, namespace, "busy") == expected,
            timeout=30,
            what=f"status to show {expected}",
            interval=0.02,
        )
        freshness.append(time.monotonic() - committed)

    reporter.close(10)

    # Patch rate: heartbeats every 0.1 s for a fixed window.
    ledger, reporter = reporter_for(control_plane, service, namespace, "busy")
    window = 12.0
    before = metric(service, *patched)
    started = time.monotonic()
    while time.monotonic() - started < window:
        ledger.record("gpt-4o", input_tokens=10, output_tokens=1)
        time.sleep(0.05)
    elapsed = time.monotonic() - started
    after = metric(service, *patched)
    reporter.close(10)

    patches = after - before
    assert patches <= elapsed / interval + 2
    assert patches >= 1
    quantiles = statistics.quantiles(freshness, n=20)
    print(
        f"\nfreshness p50={statistics.median(freshness):.2f} s p95={quantiles[18]:.2f} s "
        f"(status interval {interval} s); {patches:.0f} patches in {elapsed:.1f} s = "
        f"{patches / elapsed * 60:.1f} per minute"
    )


def test_deletion_is_never_blocked_and_drift_is_healed(
    control_plane: ControlPlane, start_agentobs: StartAgentobs, namespace: str
) -> None:
    create_observation(control_plane, namespace, "ephemeral")
    service = start_agentobs("run", "--status-interval", "0.5", "--resync-interval", "2")
    reader = f"reader-{uuid.uuid4().hex[:6]}"
    control_plane.create_service_account(namespace, reader)
    control_plane.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": reader, "namespace": namespace},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "view-agentobservations-e2e",
            },
            "subjects": [{"kind": "ServiceAccount", "name": reader, "namespace": namespace}],
        }
    )
    control_plane.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "view-agentobservations-e2e"},
            "rules": [
                {
                    "apiGroups": ["agentobs.dev"],
                    "resources": ["agentobservations"],
                    "verbs": ["get", "list"],
                }
            ],
        }
    )
    token = control_plane.kubectl("create", "token", reader, "-n", namespace).strip()

    def listed() -> list[str]:
        usage = service.get_json(f"/v1/namespaces/{namespace}/usage", token=token)
        return [item["name"] for item in usage["items"]]

    wait_for(lambda: listed() == ["ephemeral"], timeout=30, what="the registration")
    assert not read_object(control_plane, namespace, "ephemeral")["metadata"].get("finalizers")

    # Deleted while no operator runs: the deletion completes and the next start heals.
    assert service.stop() == 0
    control_plane.kubectl("delete", "ao", "ephemeral", "-n", namespace, "--timeout", "10s")
    service.start()

    wait_for(lambda: listed() == [], timeout=30, what="the stale registration to go")
