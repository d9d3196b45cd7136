"""ServiceAccount tokens checked by TokenReview, reads checked by SubjectAccessReview."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentobs.store import Store

pytestmark = [pytest.mark.cluster, pytest.mark.postgres]

Start = Callable[..., Awaitable[Any]]


def heartbeat(namespace: str, agent: str = "planner", calls: int = 3) -> dict[str, Any]:
    return {
        "namespace": namespace,
        "agent": agent,
        "instance": "i-1",
        "sequence": calls,
        "usage": [{"model": "gpt-4o", "inputTokens": 10 * calls, "calls": calls}],
    }


@pytest.fixture
def other_namespace(control_plane: Any) -> str:
    name = f"t-{uuid.uuid4().hex[:10]}"
    control_plane.create_namespace(name)
    return name


@pytest.fixture
def accounts(control_plane: Any, namespace: str, other_namespace: str) -> dict[str, str]:
    """Tokens with the agentobs audience: two ServiceAccounts here, one elsewhere."""
    for account_namespace, name in (
        (namespace, "planner"),
        (namespace, "intruder"),
        (other_namespace, "planner"),
    ):
        control_plane.create_service_account(account_namespace, name)
    return {
        "planner": control_plane.create_token(namespace, "planner"),
        "intruder": control_plane.create_token(namespace, "intruder"),
        "elsewhere": control_plane.create_token(other_namespace, "planner"),
        "wrong audience": control_plane.create_token(namespace, "planner", audience="other"),
    }


@pytest.fixture
async def cluster_receiver(start_receiver: Start, control_plane: Any) -> Any:
    return await start_receiver(kubeconfig=control_plane.kubeconfig, static_token_file=None)


def api_server_token(control_plane: Any, namespace: str, account: str) -> str:
    """Mint a token with the API server's default audience, as kubectl users have."""
    token: str = control_plane.kubectl("create", "token", account, "--namespace", namespace)
    return token.strip()


def metric(text: str, line_start: str) -> float:
    for line in text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_service_account_reports_for_own_namespace(
    cluster_receiver: Any, accounts: dict[str, str], namespace: str, store: Store
) -> None:
    await store.register_agent(namespace, "planner", "planner")

    first = await cluster_receiver.post(heartbeat(namespace, calls=1), token=accounts["planner"])
    second = await cluster_receiver.post(heartbeat(namespace, calls=2), token=accounts["planner"])

    assert first.status == 200
    assert second.status == 200
    usage = await store.usage_of(namespace, "planner")
    assert usage is not None
    assert usage.totals.calls == 2
    text = await (await cluster_receiver.session.get(f"{cluster_receiver.url}/metrics")).text()
    assert metric(text, 'agentobs_receiver_token_reviews_total{source="token_review"}') == 1.0
    assert metric(text, 'agentobs_receiver_token_reviews_total{source="cache"}') == 1.0


async def test_refused_tokens_store_nothing(
    cluster_receiver: Any,
    accounts: dict[str, str],
    namespace: str,
    store: Store,
    database_dsn: str,
    table_checksums: Any,
) -> None:
    await store.register_agent(namespace, "planner", "planner", service_account="planner")
    before = await table_checksums(database_dsn)
    cases = [
        ("other namespace", accounts["elsewhere"], 403, "namespace_forbidden"),
        ("other service account", accounts["intruder"], 403, "service_account_forbidden"),
        ("wrong audience", accounts["wrong audience"], 401, "invalid_token"),
        ("garbage", "not.a.jwt", 401, "invalid_token"),
        ("tampered", accounts["planner"][:-4] + "AAAA", 401, "invalid_token"),
    ]

    results = []
    for case, token, _status, _code in cases:
        response = await cluster_receiver.post(heartbeat(namespace), token=token)
        results.append((case, response.status, (await response.json())["error"]))

    for (case, status, code), (_, _, expected_status, expected_code) in zip(
        results, cases, strict=True
    ):
        assert (case, status, code) == (case, expected_status, expected_code)
    assert await table_checksums(database_dsn) == before


async def test_named_service_account_may_report(
    cluster_receiver: Any, accounts: dict[str, str], namespace: str, store: Store
) -> None:
    await store.register_agent(namespace, "planner", "planner", service_account="planner")

    response = await cluster_receiver.post(heartbeat(namespace), token=accounts["planner"])

    assert response.status == 200


async def test_unreachable_api_server_is_unavailable_not_unauthorized(
    start_receiver: Start, control_plane: Any, tmp_path: Path, namespace: str
) -> None:
    config = yaml.safe_load(control_plane.kubeconfig.read_text())
    for cluster in config["clusters"]:
        cluster["cluster"]["server"] = "https://127.0.0.1:1"
    broken = tmp_path / "unreachable.kubeconfig"
    broken.write_text(yaml.safe_dump(config))
    receiver = await start_receiver(kubeconfig=broken, static_token_file=None)

    response = await receiver.post(heartbeat(namespace), token="any-token")

    assert response.status == 503
    assert (await response.json())["error"] == "token_review_unavailable"
    assert response.headers["Retry-After"] == "5"


async def test_reads_need_permission_to_get_observations(
    cluster_receiver: Any,
    control_plane: Any,
    accounts: dict[str, str],
    namespace: str,
    store: Store,
) -> None:
    await store.register_agent(namespace, "planner", "planner")
    url = f"{cluster_receiver.url}/v1/namespaces/{namespace}/agentobservations/planner/usage"
    reader = api_server_token(control_plane, namespace, "intruder")

    refused = await cluster_receiver.session.get(url, headers={"Authorization": f"Bearer {reader}"})
    control_plane.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "usage-reader", "namespace": namespace},
            "rules": [
                {
                    "apiGroups": ["agentobs.dev"],
                    "resources": ["agentobservations"],
                    "verbs": ["get"],
                }
            ],
        }
    )
    control_plane.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "usage-reader", "namespace": namespace},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "usage-reader",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "planner", "namespace": namespace}],
        }
    )
    allowed_reader = api_server_token(control_plane, namespace, "planner")
    allowed = await cluster_receiver.session.get(
        url, headers={"Authorization": f"Bearer {allowed_reader}"}
    )
    # The agent's own token, with the agentobs audience, is accepted for reads too.
    agent_token = control_plane.create_token(namespace, "planner")
    allowed_with_agent_token = await cluster_receiver.session.get(
        url, headers={"Authorization": f"Bearer {agent_token}"}
    )
    garbage = await cluster_receiver.session.get(
        url, headers={"Authorization": "Bearer not-a-token"}
    )

    assert refused.status == 403
    assert (await refused.json())["error"] == "namespace_forbidden"
    assert allowed.status == 200
    assert (await allowed.json())["agent"] == "planner"
    assert allowed_with_agent_token.status == 200
    assert garbage.status == 401
    assert "kubectl create token" in (await garbage.json())["message"]
