"""Periodic reconciliation of the store's registry with the AgentObservations in the cluster.

Events are enough while the operator runs. This pass heals what they cannot
see: objects deleted or changed while no operator was running, and registrations
that a failed store write left behind.

Limitation: a pass that lists the objects just before one is deleted may register
it again after the delete event removed it. The next pass removes it, so such a
registration lives at most one reconcile interval, and the projector skips it
because the object is gone.
"""

from __future__ import annotations

import asyncio
import logging

from kubernetes_asyncio import client

from agentobs.handlers.agentobservation import Observation, Registry, build_observation
from agentobs.resource import GROUP, PLURAL, VERSION
from agentobs.store import Store

logger = logging.getLogger(__name__)


async def reconcile_once(*, store: Store, api_client: client.ApiClient, registry: Registry) -> int:
    """Make the registry equal to the cluster's objects; return how many rows changed."""
    listing = await client.CustomObjectsApi(api_client).list_cluster_custom_object(
        GROUP, VERSION, PLURAL
    )
    in_cluster: dict[tuple[str, str], Observation] = {}
    for item in listing.get("items", []):
        observation = build_observation(item)
        in_cluster[(observation.namespace, observation.name)] = observation

    # Rows that already match are only remembered, so a pass writes just the drift.
    changed = 0
    registry.forget()
    stored = {(row.namespace, row.name): row for row in await store.registered_agents()}
    for key, observation in in_cluster.items():
        row = stored.get(key)
        same = row is not None and (
            row.agent,
            row.service_account,
            row.stale_after_seconds,
        ) == (observation.agent, observation.service_account, observation.stale_after_seconds)
        if same:
            registry.remember(observation)
        else:
            await registry.register(observation)
            changed += 1
    for namespace, name in set(stored) - set(in_cluster):
        await registry.unregister(namespace, name)
        logger.info(
            "registration of a deleted agentobservation removed namespace=%s agentobservation=%s",
            namespace,
            name,
        )
        changed += 1
    return changed


async def reconcile_forever(
    *, store: Store, api_client: client.ApiClient, registry: Registry, interval_seconds: float
) -> None:
    """Reconcile now and then every `interval_seconds`, logging failures and going on."""
    while True:
        try:
            changed = await reconcile_once(store=store, api_client=api_client, registry=registry)
            logger.debug("registry reconciled changed=%d", changed)
        except Exception as error:  # A failed pass is retried on the next tick.
            logger.warning("registry reconcile failed, retrying next interval error=%s", error)
        await asyncio.sleep(interval_seconds)
