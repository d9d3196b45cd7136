"""The projection loop: store totals -> AgentObservation status, at a bounded rate.

The loop wakes on the store's NOTIFY (payload `<namespace>/<agent>`) and on a short
tick. Notifications only mark agents dirty; the loop coalesces them per object and
patches an object at most once per status interval, only when a value changed,
and never faster than the global token bucket allows. A full resync every
`resync_interval_seconds` re-reads the registry, every object and every total,
which heals missed notifications (for example while the LISTEN connection was
being re-established during a failover).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from agentobs import protocol
from agentobs.projector import status as status_builder
from agentobs.projector.config import ProjectorSettings
from agentobs.projector.kubernetes import (
    ObjectGone,
    ObjectKey,
    ObservedObject,
    PatchFailed,
    PatchRejected,
    StatusApi,
)
from agentobs.projector.ratelimit import TokenBucket
from agentobs.store import Registration, Store

logger = logging.getLogger(__name__)

# More dirty objects than this in one pass are read with one query for all objects.
BULK_READ_THRESHOLD = 32


@dataclass
class ProjectionState:
    """Everything the leader caches between passes; dropped when leadership is lost."""

    registrations: dict[ObjectKey, Registration] = field(default_factory=dict)
    observers: dict[tuple[str, str], set[ObjectKey]] = field(default_factory=dict)
    objects: dict[ObjectKey, ObservedObject] = field(default_factory=dict)
    usage: dict[ObjectKey, protocol.AgentUsage] = field(default_factory=dict)
    last_patch: dict[ObjectKey, float] = field(default_factory=dict)
    pending: set[ObjectKey] = field(default_factory=set)
    notified_at: dict[ObjectKey, float] = field(default_factory=dict)
    rejected: dict[ObjectKey, dict[str, Any]] = field(default_factory=dict)
    failing: set[ObjectKey] = field(default_factory=set)


class Projector:
    """Runs the projection while this replica is the leader."""

    def __init__(
        self,
        *,
        store: Store,
        api: StatusApi,
        settings: ProjectorSettings,
        metrics: Any,
    ) -> None:
        self._store = store
        self._api = api
        self._settings = settings
        self._metrics = metrics
        self._bucket = TokenBucket(rate=settings.status_qps, burst=settings.status_burst)
        self._state = ProjectionState()
        self._dirty_agents: dict[tuple[str, str], float] = {}
        self._wake = asyncio.Event()
        self._next_resync = 0.0
        self._next_registry_refresh = 0.0
        self._next_stale_check = 0.0

    @property
    def state(self) -> ProjectionState:
        return self._state

    def notify(self, payload: str) -> None:
        """Mark the agent `<namespace>/<agent>` of a NOTIFY payload dirty and wake the loop."""
        namespace, _, agent = payload.partition("/")
        if namespace and agent:
            self._dirty_agents.setdefault((namespace, agent), time.monotonic())
            self._wake.set()

    async def run(self) -> None:
        """Project until cancelled; passing API or database failures only delay a pass."""
        self._state = ProjectionState()
        self._next_resync = 0.0
        tick = min(0.5, self._settings.status_interval_seconds / 4)
        while True:
            try:
                await self.project_once()
            except Exception as error:
                # A pass that fails leaves its work pending; the next pass retries it.
                logger.warning("projection pass failed, retrying error=%s", error)
                self._metrics.projection_failures.inc()
                await asyncio.sleep(self._settings.leader_retry_seconds)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=tick)

    async def project_once(self) -> None:
        """Run one pass: refresh what is due, then patch the objects that need it."""
        now = time.monotonic()
        if now >= self._next_resync:
            await self._resync()
            self._next_resync = now + self._settings.resync_interval_seconds
            self._next_registry_refresh = now + self._settings.status_interval_seconds
        elif now >= self._next_registry_refresh:
            await self._refresh_registry()
            self._next_registry_refresh = now + self._settings.status_interval_seconds

        await self._read_dirty_usage()

        if now >= self._next_stale_check:
            self._mark_stale_candidates()
            self._next_stale_check = now + 1.0

        # Metrics come from the store, so they stay current even while patches fail.
        self._metrics.usage.update(self._state.usage.values())
        await self._patch_pending()
        self._export_lag()

    async def _resync(self) -> None:
        state = self._state
        registrations = await self._store.registered_agents()
        objects = await self._api.list_objects()
        usage = await self._store.registered_usage()

        self._set_registrations(registrations)
        state.objects = {key: item for key, item in objects.items() if key in state.registrations}
        state.usage = {(item.namespace, item.name): item for item in usage}
        state.pending = set(state.registrations)
        self._dirty_agents.clear()
        logger.info(
            "projector resynced agentobservations=%d objects=%d",
            len(state.registrations),
            len(state.objects),
        )

    async def _refresh_registry(self) -> None:
        state = self._state
        before = set(state.registrations)
        self._set_registrations(await self._store.registered_agents())
        added = set(state.registrations) - before
        for key in added:
            usage = await self._store.usage_of(*key)
            if usage is not None:
                state.usage[key] = usage
                state.pending.add(key)

    def _set_registrations(self, registrations: list[Registration]) -> None:
        state = self._state
        state.registrations = {(item.namespace, item.name): item for item in registrations}
        state.observers = {}
        for key, item in state.registrations.items():
            state.observers.setdefault((item.namespace, item.agent), set()).add(key)
        for cache in (
            state.objects,
            state.usage,
            state.last_patch,
            state.notified_at,
            state.rejected,
        ):
            for key in [key for key in cache if key not in state.registrations]:
                del cache[key]
        state.pending &= set(state.registrations)
        state.failing &= set(state.registrations)

    async def _read_dirty_usage(self) -> None:
        state = self._state
        dirty, self._dirty_agents = self._dirty_agents, {}
        keys: dict[ObjectKey, float] = {}
        for agent, noticed in dirty.items():
            for key in state.observers.get(agent, ()):
                keys[key] = min(noticed, keys.get(key, noticed))
        if not keys:
            return

        if len(keys) > BULK_READ_THRESHOLD:
            for item in await self._store.registered_usage():
                state.usage[(item.namespace, item.name)] = item
        else:
            for key in keys:
                usage = await self._store.usage_of(*key)
                if usage is not None:
                    state.usage[key] = usage
        for key, noticed in keys.items():
            state.pending.add(key)
            state.notified_at.setdefault(key, noticed)

    def _mark_stale_candidates(self) -> None:
        # Only objects shown as reporting can go stale without any new heartbeat.
        state = self._state
        now = datetime.now(UTC)
        for key, usage in state.usage.items():
            observed = state.objects.get(key)
            condition = status_builder.find_condition(observed.status if observed else None)
            if condition is None or condition.get("status") != "True":
                continue
            last = usage.last_heartbeat_time
            if last is None or (now - last).total_seconds() > self._stale_after(key):
                state.pending.add(key)

    def _stale_after(self, key: ObjectKey) -> int:
        registration = self._state.registrations.get(key)
        if registration is not None and registration.stale_after_seconds:
            return int(registration.stale_after_seconds)
        return self._settings.stale_after_seconds

    async def _patch_pending(self) -> None:
        state = self._state
        now = time.monotonic()
        for key in sorted(state.pending):
            usage = state.usage.get(key)
            if usage is None:
                state.pending.discard(key)
                continue
            if (
                now - state.last_patch.get(key, float("-inf"))
                < self._settings.status_interval_seconds
            ):
                continue  # Still pending; the per-object interval has not passed.
            if not await self._patch_if_changed(key, usage):
                return  # The global cap is reached; the rest waits for the next pass.

    async def _patch_if_changed(self, key: ObjectKey, usage: protocol.AgentUsage) -> bool:
        """Patch one object if its status differs; return False when the QPS cap stops it."""
        state = self._state
        observed = state.objects.get(key)
        if observed is None:
            try:
                observed = await self._api.read_object(*key)
            except ObjectGone:
                state.pending.discard(key)
                return True
            except PatchFailed as error:
                self._note_failure(key, "read", error)
                return True
            state.objects[key] = observed

        desired = status_builder.build_status(
            usage,
            now=datetime.now(UTC),
            stale_after_seconds=self._stale_after(key),
            max_models=self._settings.max_models,
            generation=observed.generation,
            current=observed.status,
        )
        if (
            not status_builder.needs_patch(observed.status, desired)
            or state.rejected.get(key) == desired
        ):
            state.pending.discard(key)
            state.notified_at.pop(key, None)
            return True
        if not self._bucket.try_acquire():
            self._metrics.status_patches.labels(result="throttled").inc()
            return False

        await self._send_patch(key, observed, desired)
        return True

    async def _send_patch(
        self, key: ObjectKey, observed: ObservedObject, desired: dict[str, Any]
    ) -> None:
        state = self._state
        namespace, name = key
        state.last_patch[key] = time.monotonic()
        try:
            updated = await self._api.patch_status(namespace, name, desired)
        except ObjectGone:
            logger.info(
                "agentobservation gone before its status patch namespace=%s agentobservation=%s",
                namespace,
                name,
            )
            self._metrics.status_patches.labels(result="not_found").inc()
            state.objects.pop(key, None)
            state.pending.discard(key)
            return
        except PatchRejected as error:
            logger.error(
                "status patch rejected namespace=%s agentobservation=%s code=%d error=%s",
                namespace,
                name,
                error.status,
                error,
            )
            self._metrics.status_patches.labels(result="rejected").inc()
            # A rejected status is not retried until the desired status changes.
            state.rejected[key] = desired
            state.objects.pop(key, None)
            state.pending.discard(key)
            return
        except PatchFailed as error:
            # The object stays pending and is retried after the status interval.
            self._metrics.status_patches.labels(result="failed").inc()
            self._note_failure(key, "patch", error)
            return

        self._metrics.status_patches.labels(result="patched").inc()
        if key in state.failing:
            state.failing.discard(key)
            logger.info(
                "status patch succeeded again namespace=%s agentobservation=%s", namespace, name
            )
        state.objects[key] = updated
        state.pending.discard(key)
        noticed = state.notified_at.pop(key, None)
        if noticed is not None:
            self._metrics.projection_delay.observe(time.monotonic() - noticed)
        logger.debug("status patched namespace=%s agentobservation=%s", namespace, name)

        transition = status_builder.reporting_transition(observed.status, desired)
        if transition is not None:
            reason, message = transition
            await self._api.post_event(
                updated, reason=reason, message=message, warning=reason == "ReportingStopped"
            )

    def _note_failure(self, key: ObjectKey, action: str, error: PatchFailed) -> None:
        # The first failure of a streak is a warning; repeats would flood the log.
        namespace, name = key
        level = logging.DEBUG if key in self._state.failing else logging.WARNING
        self._state.failing.add(key)
        logger.log(
            level,
            "status %s failed, retrying namespace=%s agentobservation=%s error=%s",
            action,
            namespace,
            name,
            error,
        )

    def _export_lag(self) -> None:
        state = self._state
        oldest = min(state.notified_at.values(), default=None)
        lag = 0.0 if oldest is None else time.monotonic() - oldest
        self._metrics.projection_lag.set(lag)
