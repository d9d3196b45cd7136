"""A corpus of hostile and malformed requests: each gets a 4xx error and stores nothing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from agentobs.protocol import MAX_COUNT
from agentobs.store import Store

pytestmark = pytest.mark.postgres

Check = Callable[[str, str, int, Any], None]


def valid(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "namespace": "research",
        "agent": "planner",
        "instance": "i-1",
        "sequence": 9,
        "usage": [{"model": "gpt-4o", "inputTokens": 1000, "outputTokens": 50, "calls": 3}],
    }
    body.update(changes)
    return body


def with_usage(**entry: Any) -> dict[str, Any]:
    return valid(usage=[{"model": "gpt-4o", **entry}])


def encoded(body: Any) -> bytes:
    return json.dumps(body).encode()


def replace(body: dict[str, Any], old: str, new: str) -> bytes:
    text = json.dumps(body)
    assert old in text
    return text.replace(old, new).encode()


def without(key: str) -> bytes:
    body = valid()
    del body[key]
    return encoded(body)


def models(count: int) -> bytes:
    return encoded(valid(usage=[{"model": f"m{index}"} for index in range(count)]))


async def chunks(data: bytes, size: int = 8192) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


NESTED = b'{"namespace": ' + b"[" * 5000 + b"]" * 5000 + b"}"
JSON = {"Content-Type": "application/json"}

# (case, body, extra headers, expected status, expected error code or None for any)
CORPUS: list[tuple[str, Any, dict[str, str], int, str | None]] = [
    ("empty body", b"", JSON, 400, "invalid_json"),
    ("whitespace only", b"   \n", JSON, 400, "invalid_json"),
    ("null document", b"null", JSON, 422, "invalid_field"),
    ("array document", b"[]", JSON, 422, "invalid_field"),
    ("string document", b'"heartbeat"', JSON, 422, "invalid_field"),
    ("huge number document", b"1e400", JSON, 422, "invalid_field"),
    ("empty object", b"{}", JSON, 422, "invalid_field"),
    ("missing namespace", without("namespace"), JSON, 422, "invalid_field"),
    ("missing agent", without("agent"), JSON, 422, "invalid_field"),
    ("missing instance", without("instance"), JSON, 422, "invalid_field"),
    ("missing sequence", without("sequence"), JSON, 422, "invalid_field"),
    ("namespace is a number", encoded(valid(namespace=7)), JSON, 422, "invalid_field"),
    ("namespace in capitals", encoded(valid(namespace="Research")), JSON, 422, "invalid_field"),
    ("namespace too long", encoded(valid(namespace="r" * 64)), JSON, 422, "invalid_field"),
    ("agent empty", encoded(valid(agent="")), JSON, 422, "invalid_field"),
    ("agent too long", encoded(valid(agent="a" * 254)), JSON, 422, "invalid_field"),
    ("agent with slash", encoded(valid(agent="a/b")), JSON, 422, "invalid_field"),
    ("instance with space", encoded(valid(instance="i 1")), JSON, 422, "invalid_field"),
    ("instance too long", encoded(valid(instance="i" * 65)), JSON, 422, "invalid_field"),
    ("negative sequence", encoded(valid(sequence=-1)), JSON, 422, "invalid_field"),
    ("float sequence", encoded(valid(sequence=1.5)), JSON, 422, "invalid_field"),
    ("integral float sequence", encoded(valid(sequence=2.0)), JSON, 422, "invalid_field"),
    ("string sequence", encoded(valid(sequence="9")), JSON, 422, "invalid_field"),
    ("boolean sequence", encoded(valid(sequence=True)), JSON, 422, "invalid_field"),
    ("null sequence", encoded(valid(sequence=None)), JSON, 422, "invalid_field"),
    ("sequence of 2^63", encoded(valid(sequence=2**63)), JSON, 422, "invalid_field"),
    ("negative input tokens", encoded(with_usage(inputTokens=-5)), JSON, 422, "invalid_field"),
    ("float input tokens", encoded(with_usage(inputTokens=10.0)), JSON, 422, "invalid_field"),
    ("NaN input tokens", replace(with_usage(inputTokens=1), ": 1}", ": NaN}"), JSON, 422, None),
    ("infinite tokens", replace(with_usage(inputTokens=1), ": 1}", ": Infinity}"), JSON, 422, None),
    ("exponent tokens", replace(with_usage(inputTokens=1), ": 1}", ": 1e308}"), JSON, 422, None),
    ("tokens of 2^64", encoded(with_usage(outputTokens=2**64)), JSON, 422, "invalid_field"),
    ("tokens of 2^63", encoded(with_usage(outputTokens=2**63)), JSON, 422, "invalid_field"),
    ("string tokens", encoded(with_usage(outputTokens="100")), JSON, 422, "invalid_field"),
    ("boolean calls", encoded(with_usage(calls=True)), JSON, 422, "invalid_field"),
    (
        "cache reads above input",
        encoded(with_usage(inputTokens=10, cacheReadTokens=11)),
        JSON,
        422,
        "invalid_field",
    ),
    (
        "cache writes above input",
        encoded(with_usage(inputTokens=10, cacheWriteTokens=11)),
        JSON,
        422,
        "invalid_field",
    ),
    (
        "reasoning above output",
        encoded(with_usage(outputTokens=3, reasoningTokens=4)),
        JSON,
        422,
        "invalid_field",
    ),
    ("negative skipped", encoded(valid(skippedRecords=-1)), JSON, 422, "invalid_field"),
    ("usage is an object", encoded(valid(usage={"model": "x"})), JSON, 422, "invalid_field"),
    ("usage entry is a string", encoded(valid(usage=["gpt"])), JSON, 422, "invalid_field"),
    ("usage entry without model", encoded(valid(usage=[{"calls": 1}])), JSON, 422, None),
    ("empty model name", encoded(with_usage(model="")), JSON, 422, "invalid_field"),
    ("model name too long", encoded(with_usage(model="m" * 201)), JSON, 422, "invalid_field"),
    ("newline in model", encoded(with_usage(model="gpt\n4o")), JSON, 422, "invalid_field"),
    ("NUL in model", encoded(with_usage(model="gpt\u0000")), JSON, 422, "invalid_field"),
    ("DEL in model", encoded(with_usage(model="gpt\u007f")), JSON, 422, "invalid_field"),
    ("C1 control in model", encoded(with_usage(model="gpt\u0085")), JSON, 422, "invalid_field"),
    ("lone surrogate", replace(valid(), '"gpt-4o"', '"\\ud800"'), JSON, 400, "invalid_json"),
    (
        "duplicate model",
        encoded(valid(usage=[{"model": "gpt"}, {"model": "gpt", "calls": 5}])),
        JSON,
        422,
        "invalid_field",
    ),
    ("257 models", models(257), JSON, 422, "invalid_field"),
    ("10,000 models", models(10_000), JSON, 413, "body_too_large"),
    ("1 MiB body", encoded(valid(agent="a" * 2**20)), JSON, 413, "body_too_large"),
    ("1 MiB chunked body", chunks(b" " * 2**20), JSON, 413, "body_too_large"),
    ("deeply nested junk", NESTED, JSON, 400, "invalid_json"),
    ("unknown field", encoded(valid(tokens=5)), JSON, 422, "invalid_field"),
    ("unknown usage field", encoded(with_usage(costUsd=1)), JSON, 422, "invalid_field"),
    ("started at is not a date", encoded(valid(startedAt="yesterday")), JSON, 422, None),
    ("started at without zone", encoded(valid(startedAt="2026-12-04T10:00:00")), JSON, 422, None),
    ("final is a string", encoded(valid(final="yes")), JSON, 422, "invalid_field"),
    ("truncated JSON", encoded(valid())[:60], JSON, 400, "invalid_json"),
    ("invalid UTF-8", b'{"namespace": "\xff\xfe"}', JSON, 400, "invalid_utf8"),
    ("UTF-16 body", json.dumps(valid()).encode("utf-16"), JSON, 400, "invalid_utf8"),
    ("byte order mark", b"\xef\xbb\xbf" + encoded(valid()), JSON, 400, "invalid_json"),
    ("trailing garbage", encoded(valid()) + b"}{", JSON, 400, "invalid_json"),
    ("text content type", encoded(valid()), {"Content-Type": "text/plain"}, 415, None),
    ("form content type", b"a=1", {"Content-Type": "application/x-www-form-urlencoded"}, 415, None),
    (
        "latin-1 charset",
        encoded(valid()),
        {"Content-Type": "application/json; charset=latin-1"},
        415,
        "unsupported_media_type",
    ),
]


@pytest.fixture
async def guarded_receiver(start_receiver: Callable[..., Awaitable[Any]], store: Store) -> Any:
    """A receiver with stored usage close to the limits, so a wrong step would show."""
    receiver = await start_receiver(max_unregistered_agents=2)
    await store.register_agent("research", "planner", "planner")
    await store.register_agent("research", "guarded", "guarded", service_account="guard")
    assert (await receiver.post(valid())).status == 200
    full = {"model": "full", "calls": MAX_COUNT}
    assert (await receiver.post(valid(instance="i-max", usage=[full]))).status == 200
    assert (await receiver.post(valid(agent="stray-1"))).status == 200
    assert (await receiver.post(valid(agent="stray-2"))).status == 200
    return receiver


async def test_corpus_gets_only_client_errors_and_changes_nothing(
    guarded_receiver: Any,
    store: Store,
    database_dsn: str,
    table_checksums: Any,
    check_response: Check,
    static_tokens: dict[str, str],
) -> None:
    receiver = guarded_receiver
    url = f"{receiver.url}/v1/heartbeats"
    research = {"Authorization": f"Bearer {static_tokens['research']}"}
    before = await table_checksums(database_dsn)

    results = []
    for case, body, headers, status, code in CORPUS:
        response = await receiver.session.post(url, data=body, headers={**research, **headers})
        results.append((case, response.status, await response.json(), status, code))
    for case, body, headers, status, code in auth_and_store_rejections(static_tokens):
        response = await receiver.session.post(url, data=encoded(body), headers={**JSON, **headers})
        results.append((case, response.status, await response.json(), status, code))

    assert len(results) >= 40
    for case, received, answer, status, code in results:
        assert (case, received) == (case, status)
        check_response("/v1/heartbeats", "post", received, answer)
        if code is not None:
            assert (case, answer["error"]) == (case, code)
    assert await table_checksums(database_dsn) == before


def auth_and_store_rejections(
    tokens: dict[str, str],
) -> list[tuple[str, Any, dict[str, str], int, str]]:
    """Well-formed heartbeats that authentication, tenancy or the store must refuse."""

    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    return [
        ("no token", valid(), {}, 401, "missing_token"),
        ("unknown token", valid(), bearer("not-a-known-token"), 401, "invalid_token"),
        ("basic scheme", valid(), {"Authorization": "Basic dXNlcjpwYXNz"}, 401, None),
        ("empty bearer", valid(), {"Authorization": "Bearer "}, 401, "invalid_authorization"),
        ("other namespace", valid(), bearer(tokens["support"]), 403, "namespace_forbidden"),
        (
            "wrong service account",
            valid(agent="guarded"),
            bearer(tokens["research"]),
            403,
            "service_account_forbidden",
        ),
        (
            "third unregistered agent",
            valid(agent="stray-3"),
            bearer(tokens["research"]),
            429,
            "too_many_unregistered_agents",
        ),
        (
            "total beyond 2^63-1",
            valid(instance="i-2", usage=[{"model": "full", "calls": 1}]),
            bearer(tokens["research"]),
            422,
            "counter_overflow",
        ),
    ]


async def raw_exchange(url: str, request: bytes, *, close_write: bool) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(request)
    await writer.drain()
    if close_write:
        writer.write_eof()
    response = await asyncio.wait_for(reader.read(), timeout=30)
    writer.close()
    return response


async def test_declared_oversize_body_is_rejected_before_reading(
    guarded_receiver: Any, static_tokens: dict[str, str]
) -> None:
    """Content-Length above the limit gets 413 although the body never arrives."""
    request = (
        "POST /v1/heartbeats HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Authorization: Bearer {static_tokens['research']}\r\n"
        "Content-Length: 100000000\r\n\r\n{"
    ).encode()

    response = await raw_exchange(guarded_receiver.url, request, close_write=False)

    assert response.startswith(b"HTTP/1.1 413")
    assert b'"body_too_large"' in response


async def test_body_cut_short_stores_nothing(
    guarded_receiver: Any,
    database_dsn: str,
    table_checksums: Any,
    static_tokens: dict[str, str],
) -> None:
    before = await table_checksums(database_dsn)
    body = encoded(valid(sequence=99))
    request = (
        "POST /v1/heartbeats HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Authorization: Bearer {static_tokens['research']}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body[:-10]

    response = await raw_exchange(guarded_receiver.url, request, close_write=True)

    assert not response.startswith(b"HTTP/1.1 2")
    assert not response.startswith(b"HTTP/1.1 5")
    assert await table_checksums(database_dsn) == before
