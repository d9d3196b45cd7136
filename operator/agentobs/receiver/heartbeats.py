"""POST /v1/heartbeats: authenticate, validate, check tenancy, store."""

from __future__ import annotations

from aiohttp import web

from agentobs import protocol
from agentobs.receiver import errors, parsing, state


async def post_heartbeat(request: web.Request) -> web.Response:
    """Store one heartbeat and acknowledge it once it is committed."""
    settings = request.app[state.SETTINGS]
    parsing.check_declared_size(request, settings.body_limit_bytes)
    parsing.check_content_type(request)

    # Authenticate before reading the body, so anonymous callers cost no parsing.
    caller = await request.app[state.AUTHENTICATOR].reporter(request.headers.get("Authorization"))
    body = await parsing.read_body(request, settings.body_limit_bytes)
    heartbeat = parsing.parse_heartbeat(body, max_models=settings.max_models)

    if caller.namespace is not None and caller.namespace != heartbeat.namespace:
        raise errors.forbidden(
            "namespace_forbidden",
            f"This token may only report for namespace {caller.namespace!r}.",
            field="namespace",
        )
    await request.app[state.STORE].record_heartbeat(
        heartbeat,
        service_account=caller.service_account,
        check_service_account=not caller.anonymous,
    )

    accepted = protocol.HeartbeatAccepted(instance=heartbeat.instance, sequence=heartbeat.sequence)
    return web.Response(body=accepted.model_dump_json().encode(), content_type="application/json")
