"""GET usage of one AgentObservation or of every AgentObservation in a namespace."""

from __future__ import annotations

from aiohttp import web

from agentobs import protocol
from agentobs.receiver import errors, state


async def get_agent_usage(request: web.Request) -> web.Response:
    """Return the usage of the agent that one AgentObservation observes, or 404."""
    namespace = request.match_info["namespace"]
    name = request.match_info["name"]
    await request.app[state.AUTHENTICATOR].authorize_read(
        request.headers.get("Authorization"), namespace
    )

    found = await request.app[state.STORE].usage_of(namespace, name)
    if found is None:
        raise errors.HttpError(
            404,
            "not_found",
            f"No AgentObservation {name[:253]!r} is registered in namespace {namespace[:63]!r}.",
        )
    return _json(found)


async def get_namespace_usage(request: web.Request) -> web.Response:
    """Return the usage of every registered AgentObservation in a namespace."""
    namespace = request.match_info["namespace"]
    await request.app[state.AUTHENTICATOR].authorize_read(
        request.headers.get("Authorization"), namespace
    )

    items = await request.app[state.STORE].namespace_usage(namespace)
    return _json(protocol.NamespaceUsage(namespace=namespace, items=tuple(items)))


def _json(model: protocol.AgentUsage | protocol.NamespaceUsage) -> web.Response:
    return web.Response(body=model.model_dump_json().encode(), content_type="application/json")
