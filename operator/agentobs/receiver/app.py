"""The aiohttp application: routes, the error and metrics middlewares, health endpoints.

Every error leaves as the JSON error shape, including aiohttp's own 404 and 405.
Store failures map to fixed statuses: an unreachable database is 503 with
Retry-After, so clients retry. Nothing is stored by a request that fails.

NOTE: requests that aiohttp's HTTP parser rejects before routing (a malformed
request line, headers over 8190 bytes) get aiohttp's own plain-text 400, not the
JSON error shape.
"""

from __future__ import annotations

import logging
import time
from importlib import resources

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from agentobs import store as store_module
from agentobs.metrics import ReceiverMetrics
from agentobs.receiver import errors, heartbeats, usage
from agentobs.receiver.auth import Authenticator
from agentobs.receiver.rejections import RejectionLog
from agentobs.receiver.state import (
    AUTHENTICATOR,
    METRICS,
    REGISTRY,
    REJECTIONS,
    SETTINGS,
    STORE,
)
from agentobs.settings import ReceiverSettings

logger = logging.getLogger(__name__)

_UNAVAILABLE_LOG_INTERVAL_SECONDS = 10.0


class _RepeatLimiter:
    """Let one log line through per interval and count the ones held back."""

    def __init__(self, interval_seconds: float) -> None:
        self._interval = interval_seconds
        self._last = float("-inf")
        self.suppressed = 0

    def allow(self) -> bool:
        now = time.monotonic()
        if now - self._last < self._interval:
            self.suppressed += 1
            return False
        self._last = now
        return True


_unavailable_log = _RepeatLimiter(_UNAVAILABLE_LOG_INTERVAL_SECONDS)

_HEARTBEATS_ROUTE = "/v1/heartbeats"


def build_app(
    settings: ReceiverSettings,
    *,
    store: store_module.Store,
    authenticator: Authenticator,
    registry: CollectorRegistry,
    metrics: ReceiverMetrics,
) -> web.Application:
    """Build the receiver application around an open store and an authenticator."""
    app = web.Application(middlewares=[_metrics_middleware, _error_middleware])
    app[SETTINGS] = settings
    app[STORE] = store
    app[AUTHENTICATOR] = authenticator
    app[METRICS] = metrics
    app[REGISTRY] = registry
    app[REJECTIONS] = RejectionLog()
    app.router.add_post(_HEARTBEATS_ROUTE, heartbeats.post_heartbeat)
    app.router.add_get(
        "/v1/namespaces/{namespace}/agentobservations/{name}/usage", usage.get_agent_usage
    )
    app.router.add_get("/v1/namespaces/{namespace}/usage", usage.get_namespace_usage)
    app.router.add_get("/v1/openapi.yaml", _get_openapi)
    app.router.add_get("/healthz", _get_health)
    app.router.add_get("/readyz", _get_readiness)
    app.router.add_get("/metrics", _get_metrics)
    return app


def _route_of(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def _metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    metrics = request.app[METRICS]
    route = _route_of(request)
    started = time.perf_counter()
    metrics.requests_in_flight.inc()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    finally:
        metrics.requests_in_flight.dec()
        metrics.request_duration.labels(route=route, method=request.method).observe(
            time.perf_counter() - started
        )
        metrics.requests.labels(route=route, method=request.method, code=str(status)).inc()
        if route == _HEARTBEATS_ROUTE and request.method == "POST":
            outcome = "stored"
            if status >= 500:
                outcome = "failed"
            elif status >= 400:
                outcome = "rejected"
            metrics.heartbeats.labels(outcome=outcome).inc()


@web.middleware
async def _error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except errors.HttpError as error:
        return _rejected(request, error)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        return _rejected(request, _from_aiohttp(error))
    except store_module.StoreError as error:
        return _rejected(request, _from_store(request, error))
    except Exception:
        logger.exception("unexpected error method=%s path=%s", request.method, request.path)
        return _error_response(
            errors.HttpError(500, "internal_error", "The receiver failed unexpectedly.")
        )


def _rejected(request: web.Request, error: errors.HttpError) -> web.Response:
    # 503s are logged by the store outage warnings; the rest once per kind and minute.
    if error.status < 500:
        request.app[REJECTIONS].note(
            route=_route_of(request),
            status=error.status,
            code=error.code,
            message=error.message,
            remote=request.remote,
        )
    return _error_response(error)


def _error_response(error: errors.HttpError) -> web.Response:
    return web.Response(
        status=error.status,
        body=errors.error_body(error.code, error.message, error.field),
        content_type="application/json",
        headers=error.headers,
    )


def _from_aiohttp(error: web.HTTPException) -> errors.HttpError:
    codes = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}
    code = codes.get(error.status, error.reason.lower().replace(" ", "_"))
    message = {
        404: "No such endpoint; see GET /v1/openapi.yaml for the API.",
    }.get(error.status, f"{error.reason}.")
    if isinstance(error, web.HTTPMethodNotAllowed):
        message = (
            f"This endpoint does not take {error.method}, only"
            f" {', '.join(sorted(error.allowed_methods))}; see GET /v1/openapi.yaml."
        )
    headers = {"Allow": error.headers["Allow"]} if "Allow" in error.headers else None
    return errors.HttpError(error.status, code, message, headers=headers)


def _from_store(request: web.Request, error: store_module.StoreError) -> errors.HttpError:
    retry_after = request.app[SETTINGS].retry_after_seconds
    if isinstance(error, store_module.ServiceAccountRejected):
        return errors.forbidden(
            "service_account_forbidden",
            "The AgentObservation of this agent names another ServiceAccount;"
            " report with that ServiceAccount's token.",
        )
    if isinstance(error, store_module.TooManyUnregisteredAgents):
        return errors.HttpError(
            429,
            "too_many_unregistered_agents",
            "This namespace has reached the limit of agents without an AgentObservation;"
            " create an AgentObservation for this agent.",
            field="agent",
            headers={"Retry-After": "60"},
        )
    if isinstance(error, store_module.CounterOverflow):
        return errors.HttpError(
            422,
            "counter_overflow",
            "A total of this agent would exceed 2^63-1; the heartbeat was not stored.",
            field="usage",
        )
    if isinstance(error, store_module.SchemaNotMigrated):
        logger.error("database schema is not migrated error=%s", error)
        return errors.unavailable(
            "schema_not_migrated", "The database schema is not migrated.", retry_after=retry_after
        )
    if _unavailable_log.allow():
        logger.warning(
            "store unavailable path=%s error=%s suppressed_since_last=%d",
            request.path,
            error,
            _unavailable_log.suppressed,
        )
        _unavailable_log.suppressed = 0
    return errors.unavailable(
        "store_unavailable", "The usage store is unavailable; retry later.", retry_after=retry_after
    )


async def _get_openapi(request: web.Request) -> web.Response:
    text = resources.files("agentobs.receiver").joinpath("openapi.yaml").read_text("utf-8")
    return web.Response(text=text, content_type="application/yaml")


async def _get_health(request: web.Request) -> web.Response:
    return web.json_response({"status": "alive"})


async def _get_readiness(request: web.Request) -> web.Response:
    await request.app[STORE].check_ready()
    return web.json_response({"status": "ready"})


async def _get_metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[REGISTRY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
