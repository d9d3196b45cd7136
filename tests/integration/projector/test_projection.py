"""The projector against the real API server and store, driven one pass at a time."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from agentobs import kube, protocol
from agentobs.metrics import ProjectorMetrics
from agentobs.projector.config import ProjectorSettings
from agentobs.projector.kubernetes import StatusApi
from agentobs.projector.projection import Projector
from agentobs.store import Store
from devenv.controlplane import ControlPlane


@pytest.fixture
async def status_api(control_plane: ControlPlane) -> AsyncIterator[StatusApi]:
    api_client = await kube.connect(control_plane.kubeconfig)
    yield StatusApi(api_client)
    await api_client.close()


def build_projector(
    store: Store, api: StatusApi, **settings: Any
) -> tuple[Projector, CollectorRegistry]:
    registry = CollectorRegistry()
    projector = Projector(
        store=store,
        api=api,
        settings=ProjectorSettings(**{"status_interval_seconds": 0.01, **settings}),
        metrics=ProjectorMetrics(registry),
    )
    return projector, registry


def patches(registry: CollectorRegistry, result: str = "patched") -> float:
    value = registry.get_sample_value("agentobs_projector_status_patches_total", {"result": result})
    return value or 0.0


def create_observation(plane: ControlPlane, namespace: str, name: str) -> None:
    plane.apply(
        {
            "apiVersion": "agentobs.dev/v1alpha1",
            "kind": "AgentObservation",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {},
        }
    )


def read_status(plane: ControlPlane, namespace: str, name: str) -> dict[str, Any]:
    body = json.loads(plane.kubectl("get", "ao", name, "-n", namespace, "-o", "json"))
    return dict(body.get("status") or {})


async def send(
    store: Store, namespace: str, agent: str, models: dict[str, int], instance: str | None = None
) -> None:
    heartbeat = protocol.Heartbeat.model_validate(
        {
            "namespace": namespace,
            "agent": agent,
            "instance": instance or uuid.uuid4().hex,
            "sequence": 1,
            "usage": [
                {"model": model, "inputTokens": tokens, "outputTokens": 1, "calls": 1}
                for model, tokens in models.items()
            ],
        }
    )
    await store.record_heartbeat(heartbeat, service_account=None, check_service_account=False)


async def test_status_shows_usage_recorded_before_the_object_existed(
    control_plane: ControlPlane, namespace: str, store: Store, status_api: StatusApi
) -> None:
    await send(store, namespace, "early", {"gpt-4o": 5_000_000_000})
    create_observation(control_plane, namespace, "early")
    await store.register_agent(namespace, "early", "early")
    projector, registry = build_projector(store, status_api)

    await projector.project_once()

    usage = read_status(control_plane, namespace, "early")["usage"]
    assert usage["inputTokens"] == 5_000_000_000
    assert usage["totalTokens"] == 5_000_000_001
    assert patches(registry) == 1


async def test_unchanged_totals_send_no_patch(
    control_plane: ControlPlane, namespace: str, store: Store, status_api: StatusApi
) -> None:
    create_observation(control_plane, namespace, "steady")
    await store.register_agent(namespace, "steady", "steady")
    await send(store, namespace, "steady", {"m": 10})
    projector, registry = build_projector(store, status_api)
    await projector.project_once()

    for _ in range(3):
        projector.notify(f"{namespace}/steady")
        await projector.project_once()

    assert patches(registry) == 1


async def test_new_projector_finds_statuses_current_and_patches_nothing(
    control_plane: ControlPlane, namespace: str, store: Store, status_api: StatusApi
) -> None:
    create_observation(control_plane, namespace, "failover")
    await store.register_agent(namespace, "failover", "failover")
    await send(store, namespace, "failover", {"m": 10})
    first, _ = build_projector(store, status_api)
    await first.project_once()

    second, registry = build_projector(store, status_api)
    await second.project_once()

    assert patches(registry) == 0


async def test_deleted_object_is_skipped_without_failing_the_pass(
    control_plane: ControlPlane, namespace: str, store: Store, status_api: StatusApi
) -> None:
    create_observation(control_plane, namespace, "gone")
    create_observation(control_plane, namespace, "kept")
    await store.register_agent(namespace, "gone", "gone")
    await store.register_agent(namespace, "kept", "kept")
    await send(store, namespace, "kept", {"m": 7})
    control_plane.kubectl("delete", "ao", "gone", "-n", namespace)
    projector, registry = build_projector(store, status_api)

    await projector.project_once()

    assert read_status(control_plane, namespace, "kept")["usage"]["inputTokens"] == 7
    assert registry.get_sample_value("agentobs_projector_pass_failures_total") == 0


async def test_status_the_api_server_rejects_is_not_retried(
    control_plane: ControlPlane, namespace: str, store: Store, status_api: StatusApi
) -> None:
    # The CRD caps status.usage.models at 256 items; this projector lists 300.
    create_observation(control_plane, namespace, "wide")
    await store.register_agent(namespace, "wide", "wide")
    await send(store, namespace, "wide", {f"model-{index}": 1 for index in range(150)})
    await send(store, namespace, "wide", {f"model-{index}": 1 for index in range(150, 300)})
    projector, registry = build_projector(store, status_api, max_models=300)

    await projector.project_once()
    projector.notify(f"{namespace}/wide")
    await projector.project_once()

    assert patches(registry, "rejected") == 1
    assert patches(registry) == 0
    assert registry.get_sample_value("agentobs_projector_pass_failures_total") == 0


async def test_global_cap_defers_patches_to_later_passes(
    control_plane: ControlPlane, namespace: str, store: Store, status_api: StatusApi
) -> None:
    names = [f"agent-{index}" for index in range(5)]
    for name in names:
        create_observation(control_plane, namespace, name)
        await store.register_agent(namespace, name, name)
        await send(store, namespace, name, {"m": 3})
    projector, registry = build_projector(store, status_api, status_qps=0.001, status_burst=2)

    await projector.project_once()

    assert patches(registry) == 2
    assert patches(registry, "throttled") >= 1
    statuses = [read_status(control_plane, namespace, name) for name in names]
    assert sum(1 for status in statuses if "usage" in status) == 2


async def test_usage_metrics_equal_the_status(
    control_plane: ControlPlane, namespace: str, store: Store, status_api: StatusApi
) -> None:
    create_observation(control_plane, namespace, "measured")
    await store.register_agent(namespace, "measured", "measured")
    await send(store, namespace, "measured", {"gpt-4o": 1200, "claude": 300})
    projector, registry = build_projector(store, status_api)

    await projector.project_once()

    usage = read_status(control_plane, namespace, "measured")["usage"]
    labels = {"namespace": namespace, "agentobservation": "measured"}
    exported_input = sum(
        registry.get_sample_value(
            "agentobs_tokens_total", {**labels, "model": model, "kind": "input"}
        )
        or 0
        for model in ("gpt-4o", "claude")
    )
    assert exported_input == usage["inputTokens"] == 1500
    assert registry.get_sample_value("agentobs_calls_total", {**labels, "model": "claude"}) == 1


async def test_forbidden_object_does_not_block_the_others(
    control_plane: ControlPlane, store: Store, tmp_path: Path
) -> None:
    # The projector's identity may patch statuses in `allowed` only.
    allowed, denied = (f"t-{uuid.uuid4().hex[:10]}" for _ in range(2))
    for namespace in (allowed, denied):
        control_plane.create_namespace(namespace)
    control_plane.create_service_account(allowed, "projector")
    control_plane.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "patch-status", "namespace": allowed},
            "rules": [
                {
                    "apiGroups": ["agentobs.dev"],
                    "resources": ["agentobservations/status"],
                    "verbs": ["patch"],
                }
            ],
        }
    )
    control_plane.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": f"read-observations-{allowed}"},
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
            "metadata": {"name": f"read-observations-{allowed}"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": f"read-observations-{allowed}",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "projector", "namespace": allowed}],
        }
    )
    control_plane.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "patch-status", "namespace": allowed},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "patch-status",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "projector", "namespace": allowed}],
        }
    )
    kubeconfig = control_plane.kubeconfig_for_token(
        control_plane.create_token(allowed, "projector", audience=None),
        tmp_path / "projector.kubeconfig",
    )
    # "a-" sorts before "b-", so the forbidden object comes first in every pass.
    for namespace, name in ((denied, "a-denied"), (allowed, "b-allowed")):
        create_observation(control_plane, namespace, name)
        await store.register_agent(namespace, name, name)
        await send(store, namespace, name, {"m": 9})
    api_client = await kube.connect(kubeconfig)
    try:
        projector, registry = build_projector(store, StatusApi(api_client))
        await projector.project_once()
    finally:
        await api_client.close()

    assert read_status(control_plane, allowed, "b-allowed")["usage"]["inputTokens"] == 9
    assert "usage" not in read_status(control_plane, denied, "a-denied")
    assert patches(registry, "failed") == 1
    assert patches(registry) == 1
    assert registry.get_sample_value("agentobs_projector_pass_failures_total") == 0
