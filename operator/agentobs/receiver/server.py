"""Running the receiver as a service: startup, sample pruning and graceful shutdown.

On SIGTERM or SIGINT the listening socket closes first, requests in flight run to
completion (up to `shutdown_timeout_seconds`), and only then is the database pool
closed, so every heartbeat acknowledged with 200 is committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from aiohttp import web
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio import config as k8s_config
from prometheus_client import CollectorRegistry

from agentobs.metrics import ReceiverMetrics
from agentobs.receiver.app import build_app
from agentobs.receiver.auth import Authenticator
from agentobs.receiver.kubernetes_review import KubernetesReviewer
from agentobs.receiver.static_tokens import StaticTokens
from agentobs.settings import ReceiverSettings
from agentobs.store import Store, StoreError

logger = logging.getLogger(__name__)


async def serve(
    settings: ReceiverSettings,
    *,
    registry: CollectorRegistry | None = None,
    ready: asyncio.Event | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Run the receiver until SIGTERM or SIGINT (or until `stop` is set), then drain.

    `ready` is set once the socket listens. The database may be down at startup:
    the receiver then returns 503 and `/readyz` fails until it is back.
    """
    registry = registry if registry is not None else CollectorRegistry()
    metrics = ReceiverMetrics(registry)
    stop = stop if stop is not None else asyncio.Event()

    async with contextlib.AsyncExitStack() as stack:
        store = await Store.connect(
            settings.dsn,
            pool_size=settings.database_pool_size,
            query_timeout=settings.database_timeout_seconds,
            max_unregistered_agents=settings.max_unregistered_agents,
            active_window=timedelta(seconds=settings.active_window_seconds),
        )
        stack.push_async_callback(store.close)
        authenticator = await stack.enter_async_context(_authenticator(settings, metrics))
        app = build_app(
            settings, store=store, authenticator=authenticator, registry=registry, metrics=metrics
        )

        runner = web.AppRunner(
            app, shutdown_timeout=settings.shutdown_timeout_seconds, access_log=None
        )
        await runner.setup()
        stack.push_async_callback(_drain, runner)
        await web.TCPSite(runner, settings.host, settings.port).start()
        logger.info("receiver listening host=%s port=%d", settings.host, settings.port)

        pruning = asyncio.create_task(_prune_forever(store, settings))
        stack.callback(pruning.cancel)
        _stop_on_signals(stop)
        if ready is not None:
            ready.set()
        await stop.wait()
        logger.info("receiver stopping, finishing requests in flight")


async def _drain(runner: web.AppRunner) -> None:
    await runner.cleanup()
    logger.info("receiver stopped")


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        # Signal handlers work only in the main thread; elsewhere `stop` is the only way.
        with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
            loop.add_signal_handler(signum, stop.set)


@contextlib.asynccontextmanager
async def _authenticator(
    settings: ReceiverSettings, metrics: ReceiverMetrics
) -> AsyncIterator[Authenticator]:
    if settings.allow_unauthenticated:
        logger.warning(
            "authentication is disabled: any client may report and read usage for any namespace"
        )
    static_tokens = StaticTokens(settings.static_token_file) if settings.static_token_file else None

    api_client = await _kubernetes_client(settings)
    reviewer = None
    if api_client is not None:
        reviewer = KubernetesReviewer(
            api_client,
            ttl_seconds=settings.token_cache_ttl_seconds,
            negative_ttl_seconds=settings.token_cache_negative_ttl_seconds,
            cache_size=settings.token_cache_size,
            metrics=metrics,
        )
    elif not settings.allow_unauthenticated:
        logger.warning(
            "no kubeconfig and not in a cluster: ServiceAccount tokens are rejected,"
            " only static tokens are accepted"
        )
    try:
        yield Authenticator(
            reviewer=reviewer,
            static_tokens=static_tokens,
            audience=settings.token_audience,
            read_audience=settings.read_token_audience,
            allow_unauthenticated=settings.allow_unauthenticated,
            retry_after_seconds=settings.retry_after_seconds,
        )
    finally:
        if api_client is not None:
            await api_client.close()


async def _kubernetes_client(settings: ReceiverSettings) -> Any:
    configuration = k8s.Configuration()
    if settings.kubeconfig is not None:
        await k8s_config.load_kube_config(
            config_file=str(settings.kubeconfig), client_configuration=configuration
        )
    elif "KUBERNETES_SERVICE_HOST" in os.environ:
        k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    else:
        return None
    return k8s.ApiClient(configuration=configuration)


async def _prune_forever(store: Store, settings: ReceiverSettings) -> None:
    retention = timedelta(seconds=settings.sample_retention_seconds)
    while True:
        await asyncio.sleep(settings.prune_interval_seconds)
        try:
            await store.prune_samples(retention)
        except StoreError as error:
            logger.warning("pruning usage samples failed, retrying later error=%s", error)
