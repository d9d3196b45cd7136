"""The operator side of a process: kopf handlers, registry reconcile and the projector."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any

import kopf
from aiohttp import web
from kubernetes_asyncio import client
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from agentobs import kube
from agentobs.handlers.agentobservation import Registry, build_kopf_registry
from agentobs.handlers.reconcile import reconcile_forever
from agentobs.metrics import ProjectorMetrics
from agentobs.projector.config import ProjectorSettings
from agentobs.projector.kubernetes import StatusApi
from agentobs.projector.runner import lead_and_project
from agentobs.store import Store, StoreError

logger = logging.getLogger(__name__)


def build_projector_settings(values: dict[str, Any]) -> ProjectorSettings:
    """Map the command's option values to the projector's settings."""
    return ProjectorSettings(
        status_interval_seconds=values["status_interval"],
        status_qps=values["status_qps"],
        status_burst=values["status_burst"],
        resync_interval_seconds=values["resync_interval"],
        stale_after_seconds=values["stale_after"],
        max_models=values["status_max_models"],
    )


def operator_tasks(
    values: dict[str, Any], *, registry: CollectorRegistry, stop: asyncio.Event
) -> Coroutine[Any, Any, None]:
    """Return the coroutine that runs the operator until `stop` is set."""
    return _run_operator(values, registry=registry, stop=stop)


async def _run_operator(
    values: dict[str, Any], *, registry: CollectorRegistry, stop: asyncio.Event
) -> None:
    settings = build_projector_settings(values)
    configuration = await kube.load_configuration(values["kubeconfig"])
    store = await Store.connect(
        values["database_url"], active_window=timedelta(seconds=settings.stale_after_seconds)
    )
    api_client = client.ApiClient(configuration)
    writer = Registry(store)
    metrics = ProjectorMetrics(registry)
    kopf_stop: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    try:
        tasks = [
            asyncio.create_task(
                kopf.operator(
                    registry=build_kopf_registry(writer, configuration),
                    standalone=True,
                    clusterwide=True,
                    stop_flag=kopf_stop,
                ),
                name="kopf",
            ),
            asyncio.create_task(
                reconcile_forever(
                    store=store,
                    api_client=api_client,
                    registry=writer,
                    interval_seconds=settings.resync_interval_seconds,
                ),
                name="reconcile",
            ),
            asyncio.create_task(
                lead_and_project(
                    dsn=values["database_url"],
                    store=store,
                    api=StatusApi(api_client),
                    settings=settings,
                    metrics=metrics,
                ),
                name="projector",
            ),
        ]
        stopping = asyncio.create_task(stop.wait(), name="stop")
        done, _ = await asyncio.wait([*tasks, stopping], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not stopping and not task.cancelled() and task.exception() is not None:
                logger.error(
                    "operator task failed task=%s error=%s", task.get_name(), task.exception()
                )
        # kopf may have taken SIGTERM for itself; either way everything stops together.
        # The projector stops first, so that it does not take the lock again meanwhile.
        stop.set()
        kopf_task, others = tasks[0], [*tasks[1:], stopping]
        for task in others:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if not kopf_stop.done():
            kopf_stop.set_result(None)
        await asyncio.wait([kopf_task], timeout=15)
        kopf_task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await kopf_task
    finally:
        await api_client.close()
        await store.close()
        logger.info("operator stopped")


async def serve_health(
    values: dict[str, Any], *, registry: CollectorRegistry, stop: asyncio.Event
) -> None:
    """Serve /healthz, /readyz and /metrics for a process that runs no receiver."""
    store = await Store.connect(values["database_url"], pool_size=1)

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        try:
            await store.check_ready()
        except StoreError as error:
            return web.json_response(
                {"error": "database_unavailable", "message": str(error), "field": None},
                status=503,
            )
        return web.json_response({"status": "ready"})

    async def metrics(_: web.Request) -> web.Response:
        body = generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, values["listen_host"], values["port"]).start()
        logger.info(
            "health and metrics listening host=%s port=%d", values["listen_host"], values["port"]
        )
        await stop.wait()
    finally:
        await runner.cleanup()
        await store.close()
