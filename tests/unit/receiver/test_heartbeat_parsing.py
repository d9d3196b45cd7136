"""Request bodies become heartbeats, or errors that name the field and the reason."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agentobs.protocol import MAX_COUNT, Heartbeat
from agentobs.receiver.errors import HttpError
from agentobs.receiver.parsing import field_path, parse_heartbeat


def body(**changes: Any) -> bytes:
    heartbeat: dict[str, Any] = {
        "namespace": "research",
        "agent": "planner",
        "instance": "3f0c1d9e",
        "sequence": 42,
        "startedAt": "2026-12-04T10:00:00Z",
        "final": False,
        "skippedRecords": 0,
        "usage": [{"model": "gpt-4o", "inputTokens": 120000, "outputTokens": 8000}],
    }
    heartbeat.update(changes)
    return json.dumps(heartbeat).encode()


def rejection(data: bytes, *, max_models: int = 256) -> HttpError:
    with pytest.raises(HttpError) as caught:
        parse_heartbeat(data, max_models=max_models)
    return caught.value


def test_documented_example_is_accepted() -> None:
    heartbeat = parse_heartbeat(body(), max_models=256)

    assert isinstance(heartbeat, Heartbeat)
    assert heartbeat.usage[0].input_tokens == 120000
    assert heartbeat.usage[0].calls == 0


def test_heartbeat_without_usage_is_accepted() -> None:
    assert parse_heartbeat(body(usage=[]), max_models=256).usage == ()


def test_largest_count_is_accepted() -> None:
    heartbeat = parse_heartbeat(body(usage=[{"model": "m", "calls": MAX_COUNT}]), max_models=1)

    assert heartbeat.usage[0].calls == MAX_COUNT


def test_schema_error_names_the_field() -> None:
    error = rejection(body(usage=[{"model": "a"}, {"model": "b", "outputTokens": -1}]))

    assert error.status == 422
    assert error.code == "invalid_field"
    assert error.field == "usage[1].outputTokens"
    assert error.message.startswith("Field usage[1].outputTokens is invalid")


def test_model_limit_comes_from_the_setting() -> None:
    error = rejection(body(usage=[{"model": "a"}, {"model": "b"}]), max_models=1)

    assert error.status == 422
    assert error.field == "usage"
    assert "at most 1 models" in error.message


def test_duplicate_model_is_rejected() -> None:
    error = rejection(body(usage=[{"model": "a"}, {"model": "a"}]))

    assert error.status == 422
    assert "appears more than once" in error.message


def test_invalid_json_is_a_bad_request() -> None:
    error = rejection(b'{"namespace": ')

    assert error.status == 400
    assert error.code == "invalid_json"
    assert error.field is None


def test_invalid_utf8_is_a_bad_request() -> None:
    error = rejection(b'{"agent": "\xc3\x28"}')

    assert error.status == 400
    assert error.code == "invalid_utf8"


@pytest.mark.parametrize(
    ("location", "path"),
    [
        ((), None),
        (("namespace",), "namespace"),
        (("usage", 3, "model"), "usage[3].model"),
        (("usage", 0), "usage[0]"),
    ],
)
def test_field_path_formats_locations(location: tuple[int | str, ...], path: str | None) -> None:
    assert field_path(location) == path
