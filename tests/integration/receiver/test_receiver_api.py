"""The receiver stores heartbeats and serves usage, as the OpenAPI document describes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import yaml

from agentobs.store import Store

pytestmark = pytest.mark.postgres

Check = Callable[[str, str, int, Any], None]
AGENT_USAGE = "/v1/namespaces/{namespace}/agentobservations/{name}/usage"
NAMESPACE_USAGE = "/v1/namespaces/{namespace}/usage"


def heartbeat(sequence: int = 1, *, instance: str = "i-1", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "namespace": "research",
        "agent": "planner",
        "instance": instance,
        "sequence": sequence,
        "startedAt": "2026-12-04T10:00:00Z",
        "usage": [
            {
                "model": "gpt-4o",
                "inputTokens": 100 * sequence,
                "outputTokens": 10 * sequence,
                "cacheReadTokens": 40,
                "calls": sequence,
            },
            {"model": "claude-sonnet", "inputTokens": 5, "outputTokens": 1, "calls": 1},
        ],
    }
    body.update(extra)
    return body


async def test_heartbeat_is_acknowledged_with_instance_and_sequence(
    start_receiver: Callable[..., Awaitable[Any]], check_response: Check
) -> None:
    receiver = await start_receiver()

    response = await receiver.post(heartbeat(7))

    assert response.status == 200
    body = await response.json()
    check_response("/v1/heartbeats", "post", 200, body)
    assert body == {"instance": "i-1", "sequence": 7}


async def test_agent_usage_returns_totals_windows_and_models(
    start_receiver: Callable[..., Awaitable[Any]],
    store: Store,
    check_response: Check,
    static_tokens: dict[str, str],
) -> None:
    receiver = await start_receiver()
    await store.register_agent("research", "planner-observation", "planner")
    for sequence in (1, 3, 2, 3):
        assert (await receiver.post(heartbeat(sequence))).status == 200

    response = await receiver.session.get(
        f"{receiver.url}/v1/namespaces/research/agentobservations/planner-observation/usage",
        headers={"Authorization": f"Bearer {static_tokens['research']}"},
    )

    assert response.status == 200
    body = await response.json()
    check_response(AGENT_USAGE, "get", 200, body)
    assert body["name"] == "planner-observation"
    assert body["agent"] == "planner"
    assert body["totals"]["inputTokens"] == 305
    assert body["totals"]["totalTokens"] == 305 + 31
    assert body["lastHour"]["inputTokens"] == 305
    assert body["lastDay"]["calls"] == 4
    assert body["activeInstances"] == 1
    assert body["lastHeartbeatTime"] is not None
    assert [model["model"] for model in body["models"]] == ["claude-sonnet", "gpt-4o"]


async def test_namespace_usage_lists_every_observation(
    start_receiver: Callable[..., Awaitable[Any]],
    store: Store,
    check_response: Check,
    static_tokens: dict[str, str],
) -> None:
    receiver = await start_receiver()
    await store.register_agent("research", "a", "planner")
    await store.register_agent("research", "b", "never-reported")
    await receiver.post(heartbeat())

    response = await receiver.session.get(
        f"{receiver.url}/v1/namespaces/research/usage",
        headers={"Authorization": f"Bearer {static_tokens['research']}"},
    )

    body = await response.json()
    check_response(NAMESPACE_USAGE, "get", 200, body)
    assert [item["name"] for item in body["items"]] == ["a", "b"]
    assert body["items"][1]["totals"]["totalTokens"] == 0
    assert body["items"][1]["lastHeartbeatTime"] is None


async def test_unknown_observation_is_not_found(
    start_receiver: Callable[..., Awaitable[Any]],
    check_response: Check,
    static_tokens: dict[str, str],
) -> None:
    receiver = await start_receiver()

    response = await receiver.session.get(
        f"{receiver.url}/v1/namespaces/research/agentobservations/nothing/usage",
        headers={"Authorization": f"Bearer {static_tokens['research']}"},
    )

    assert response.status == 404
    body = await response.json()
    check_response(AGENT_USAGE, "get", 404, body)
    assert body["error"] == "not_found"


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/nowhere", 404, "not_found"),
        ("GET", "/v1/heartbeats", 405, "method_not_allowed"),
        ("DELETE", "/v1/namespaces/research/usage", 405, "method_not_allowed"),
    ],
)
async def test_router_errors_use_the_error_shape(
    start_receiver: Callable[..., Awaitable[Any]],
    check_response: Check,
    method: str,
    path: str,
    status: int,
    code: str,
) -> None:
    receiver = await start_receiver()

    response = await receiver.session.request(method, receiver.url + path)

    assert response.status == status
    body = await response.json()
    check_response(path, method, status, body)
    assert body["error"] == code


async def test_health_readiness_and_document_are_served(
    start_receiver: Callable[..., Awaitable[Any]],
    check_response: Check,
    openapi_document: dict[str, Any],
) -> None:
    receiver = await start_receiver()

    health = await receiver.session.get(f"{receiver.url}/healthz")
    ready = await receiver.session.get(f"{receiver.url}/readyz")
    document = await receiver.session.get(f"{receiver.url}/v1/openapi.yaml")

    assert health.status == 200
    check_response("/healthz", "get", 200, await health.json())
    assert ready.status == 200
    check_response("/readyz", "get", 200, await ready.json())
    assert yaml.safe_load(await document.text()) == openapi_document


async def test_readiness_fails_on_unmigrated_database(
    start_receiver: Callable[..., Awaitable[Any]],
    check_response: Check,
    store: Store,
) -> None:
    receiver = await start_receiver()
    async with store._connection() as connection:
        await connection.execute("DELETE FROM schema_migrations")

    response = await receiver.session.get(f"{receiver.url}/readyz")

    assert response.status == 503
    body = await response.json()
    check_response("/readyz", "get", 503, body)
    assert body["error"] == "schema_not_migrated"
    assert response.headers["Retry-After"] == "5"


async def test_metrics_count_requests_and_heartbeats(
    start_receiver: Callable[..., Awaitable[Any]],
) -> None:
    receiver = await start_receiver()
    await receiver.post(heartbeat())
    await receiver.post(b"{", token=None)

    text = await (await receiver.session.get(f"{receiver.url}/metrics")).text()

    assert 'agentobs_receiver_heartbeats_total{outcome="stored"} 1.0' in text
    assert 'agentobs_receiver_heartbeats_total{outcome="rejected"} 1.0' in text
    assert (
        'agentobs_receiver_http_requests_total{code="200",method="POST",route="/v1/heartbeats"} 1.0'
        in text
    )
    assert "agentobs_receiver_http_request_duration_seconds_bucket" in text
    assert "agentobs_receiver_http_requests_in_flight" in text


async def test_five_billion_tokens_round_trip_over_http(
    start_receiver: Callable[..., Awaitable[Any]],
    store: Store,
    static_tokens: dict[str, str],
) -> None:
    receiver = await start_receiver()
    await store.register_agent("research", "planner", "planner")
    body = heartbeat(usage=[{"model": "gpt-4o", "inputTokens": 5_000_000_000}])

    assert (await receiver.post(body)).status == 200
    response = await receiver.session.get(
        f"{receiver.url}/v1/namespaces/research/agentobservations/planner/usage",
        headers={"Authorization": f"Bearer {static_tokens['research']}"},
    )

    usage = await response.json()
    assert usage["totals"]["inputTokens"] == 5_000_000_000
    assert usage["models"][0]["inputTokens"] == 5_000_000_000
    assert usage["lastDay"]["inputTokens"] == 5_000_000_000


async def test_unauthenticated_mode_accepts_requests_and_warns(
    start_receiver: Callable[..., Awaitable[Any]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level("WARNING", logger="agentobs.receiver.server"):
        receiver = await start_receiver(allow_unauthenticated=True, static_token_file=None)

    stored = await receiver.post(heartbeat(namespace="anywhere"), token=None)
    read = await receiver.session.get(f"{receiver.url}/v1/namespaces/anywhere/usage")

    assert stored.status == 200
    assert read.status == 200
    assert any("authentication is disabled" in record.message for record in caplog.records)
