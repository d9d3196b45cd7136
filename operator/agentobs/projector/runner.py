"""Runs the projector on whichever replica holds the leader lock."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from agentobs.metrics import ProjectorMetrics
from agentobs.projector.config import ProjectorSettings
from agentobs.projector.kubernetes import StatusApi
from agentobs.projector.leader import Leadership, LeadershipLost
from agentobs.projector.projection import Projector
from agentobs.store import Store

logger = logging.getLogger(__name__)


async def lead_and_project(
    *,
    dsn: str,
    store: Store,
    api: StatusApi,
    settings: ProjectorSettings,
    metrics: ProjectorMetrics,
) -> None:
    """Wait for leadership, project while it lasts, and start over when it is lost."""
    projector = Projector(store=store, api=api, settings=settings, metrics=metrics)
    leadership = Leadership(
        dsn, retry_seconds=settings.leader_retry_seconds, on_notify=projector.notify
    )
    try:
        while True:
            await leadership.acquire()
            metrics.leader.set(1)
            watch = asyncio.create_task(leadership.watch(), name="leader-watch")
            work = asyncio.create_task(projector.run(), name="projection")
            try:
                await asyncio.wait({watch, work}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (watch, work):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, LeadershipLost):
                        await task
                # A standby exports no usage, so Prometheus sums count every token once.
                metrics.leader.set(0)
                metrics.usage.update(())
            logger.warning("projector leadership lost; standing by to take it again")
    finally:
        await leadership.release()
