"""Fixtures of the store and receiver tiers: a migrated store, table checksums and
receivers served in the test's event loop with static tokens."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import jsonschema
import pytest
import referencing
import referencing.jsonschema
import yaml
from prometheus_client import CollectorRegistry

from agentobs.receiver import serve
from agentobs.settings import ReceiverSettings
from agentobs.store import Store


@pytest.fixture
async def store(database_dsn: str) -> AsyncIterator[Store]:
    """A store on a fresh, migrated database, closed after the test."""
    opened = await Store.connect(database_dsn, pool_size=8)
    await opened.migrate()
    yield opened
    await opened.close()


@pytest.fixture
def table_checksums() -> Callable[[str], Awaitable[dict[str, str]]]:
    """A function that returns an md5 of the rows of every table, by table name."""
    return _table_checksums


async def _table_checksums(dsn: str) -> dict[str, str]:
    connection = await asyncpg.connect(dsn)
    try:
        tables = await connection.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        )
        checksums = {}
        for row in tables:
            name = row["tablename"]
            checksums[name] = await connection.fetchval(
                f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), ''))"
                f' FROM "{name}" t'
            )
        return checksums
    finally:
        await connection.close()


RESEARCH_TOKEN = "static-token-research-0123456789"
SUPPORT_TOKEN = "static-token-support-0123456789"
TRIAGE_TOKEN = "static-token-support-triage-0123456789"


@dataclasses.dataclass
class RunningReceiver:
    """A receiver served in this process on 127.0.0.1, with a client session."""

    url: str
    settings: ReceiverSettings
    session: aiohttp.ClientSession
    registry: CollectorRegistry

    async def post(
        self, body: Any, *, token: str | None = RESEARCH_TOKEN
    ) -> aiohttp.ClientResponse:
        """POST a heartbeat given as a dict (sent as JSON) or as raw bytes."""
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return await self.session.post(f"{self.url}/v1/heartbeats", data=data, headers=headers)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def static_token_file(tmp_path: Path) -> Path:
    """A token file: one token for research, two for support (one as triage-bot)."""
    path = tmp_path / "tokens.yaml"
    path.write_text(
        f"{RESEARCH_TOKEN}: research\n"
        f"{SUPPORT_TOKEN}: support\n"
        f"{TRIAGE_TOKEN}: {{namespace: support, serviceAccount: triage-bot}}\n"
    )
    return path


@pytest.fixture
async def start_receiver(
    database_dsn: str, static_token_file: Path
) -> AsyncIterator[Callable[..., Awaitable[RunningReceiver]]]:
    """Start `serve()` in this event loop with settings overrides; stopped after the test."""
    running: list[tuple[asyncio.Event, asyncio.Task[None], aiohttp.ClientSession]] = []

    async def start(**overrides: Any) -> RunningReceiver:
        store = await Store.connect(overrides.get("dsn", database_dsn))
        await store.migrate()
        await store.close()
        fields: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": free_port(),
            "dsn": database_dsn,
            "static_token_file": static_token_file,
            **overrides,
        }
        settings = ReceiverSettings(**fields)
        registry = CollectorRegistry()
        ready, stop = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(serve(settings, registry=registry, ready=ready, stop=stop))
        await asyncio.wait_for(
            asyncio.wait(
                [asyncio.ensure_future(ready.wait()), task], return_when="FIRST_COMPLETED"
            ),
            timeout=60,
        )
        if task.done():
            task.result()
        session = aiohttp.ClientSession()
        running.append((stop, task, session))
        return RunningReceiver(f"http://127.0.0.1:{settings.port}", settings, session, registry)

    yield start

    for stop, task, session in running:
        await session.close()
        stop.set()
        await task


@pytest.fixture
def static_tokens() -> dict[str, str]:
    """The tokens of `static_token_file`, by the grant they carry."""
    return {"research": RESEARCH_TOKEN, "support": SUPPORT_TOKEN, "triage-bot": TRIAGE_TOKEN}


@pytest.fixture(scope="session")
def openapi_document() -> dict[str, Any]:
    """The receiver's OpenAPI document, as served at /v1/openapi.yaml."""
    text = resources.files("agentobs.receiver").joinpath("openapi.yaml").read_text("utf-8")
    document: dict[str, Any] = yaml.safe_load(text)
    return document


@pytest.fixture(scope="session")
def check_response(
    openapi_document: dict[str, Any],
) -> Callable[[str, str, int, Any], None]:
    """A function that validates a response body against the OpenAPI operation.

    Takes the path template, the method, the status and the decoded JSON body.
    """
    resource = referencing.Resource.from_contents(
        openapi_document, default_specification=referencing.jsonschema.DRAFT202012
    )
    registry: referencing.Registry[Any] = referencing.Registry().with_resource(
        "urn:agentobs:openapi", resource
    )

    def check(path: str, method: str, status: int, body: Any) -> None:
        operation = openapi_document["paths"].get(path, {}).get(method.lower(), {})
        # Paths and methods outside the API return the shared error response.
        response = operation.get("responses", {}).get(str(status), {"$ref": "#/Error"})
        if "$ref" in response:
            name = response["$ref"].rsplit("/", 1)[-1]
            response = openapi_document["components"]["responses"][name]
        schema = response["content"]["application/json"]["schema"]
        validator = jsonschema.Draft202012Validator(
            {"$ref": "urn:agentobs:openapi" + schema["$ref"]},
            registry=registry,
            format_checker=jsonschema.FormatChecker(),
        )
        validator.validate(body)

    return check
