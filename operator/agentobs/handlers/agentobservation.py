"""kopf handlers of AgentObservation: keep the store's registry in step with the cluster.

The handlers only watch events. They add no finalizer and never write to the
object, so deleting an AgentObservation never waits for the operator. An
uninstalled or stopped operator blocks nothing. Objects deleted while no operator
ran are removed from the registry by `RegistryReconciler`.

The projector's status patches arrive here as MODIFIED events too. Their
registration is unchanged, so they cause no store write and no further patch.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import kopf

from agentobs import kube
from agentobs.resource import GROUP, PLURAL, VERSION
from agentobs.store import Store, StoreError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Observation:
    """The registration of one AgentObservation: its agent and who may report for it."""

    namespace: str
    name: str
    agent: str
    service_account: str | None
    stale_after_seconds: int | None


def build_observation(body: dict[str, Any]) -> Observation:
    """Read the registration of an AgentObservation from its body."""
    metadata = body.get("metadata") or {}
    spec = body.get("spec") or {}
    name = str(metadata["name"])
    agent_ref = spec.get("agentRef") or {}
    stale_after = spec.get("staleAfterSeconds")
    return Observation(
        namespace=str(metadata["namespace"]),
        name=name,
        agent=str(agent_ref.get("name") or name),
        service_account=spec.get("serviceAccountName") or None,
        stale_after_seconds=int(stale_after) if stale_after is not None else None,
    )


class Registry:
    """Writes registrations to the store, skipping those it already wrote."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._written: dict[tuple[str, str], Observation] = {}
        self._lock = asyncio.Lock()

    async def register(self, observation: Observation) -> bool:
        """Store the registration unless it is unchanged; return whether it was written."""
        key = (observation.namespace, observation.name)
        async with self._lock:
            if self._written.get(key) == observation:
                return False
            await self._store.register_agent(
                observation.namespace,
                observation.name,
                observation.agent,
                observation.service_account,
                observation.stale_after_seconds,
            )
            self._written[key] = observation
        return True

    async def unregister(self, namespace: str, name: str) -> bool:
        """Remove the registration; return whether it existed."""
        async with self._lock:
            self._written.pop((namespace, name), None)
            return await self._store.unregister_agent(namespace, name)

    def remember(self, observation: Observation) -> None:
        """Record that the store already has this registration, without writing it."""
        self._written[(observation.namespace, observation.name)] = observation

    def forget(self) -> None:
        """Drop what was written, so the next events write again (after a resync)."""
        self._written.clear()


def build_kopf_registry(registry: Registry, configuration: Any) -> kopf.OperatorRegistry:
    """Build the kopf registry with the login and the AgentObservation event handler."""
    handlers = kopf.OperatorRegistry()

    @kopf.on.login(id="login", registry=handlers)
    def login(**_: Any) -> kopf.ConnectionInfo:
        return kopf.ConnectionInfo(
            server=configuration.host,
            ca_path=configuration.ssl_ca_cert,
            insecure=not configuration.verify_ssl,
            certificate_path=configuration.cert_file,
            private_key_path=configuration.key_file,
            scheme="Bearer" if kube.bearer_token(configuration) else None,
            token=kube.bearer_token(configuration),
        )

    @kopf.on.startup(id="configure", registry=handlers)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.posting.level = logging.WARNING
        settings.watching.server_timeout = 300
        settings.networking.request_timeout = 60

    @kopf.on.event(GROUP, VERSION, PLURAL, id="agentobservation_event", registry=handlers)
    async def agentobservation_event(type: str, body: kopf.Body, **_: Any) -> None:
        namespace, name = body.metadata.namespace, body.metadata.name
        try:
            if type == "DELETED":
                if await registry.unregister(str(namespace), str(name)):
                    logger.info(
                        "agentobservation unregistered namespace=%s agentobservation=%s",
                        namespace,
                        name,
                    )
                return
            observation = build_observation(dict(body))
            if await registry.register(observation):
                logger.info(
                    "agentobservation registered namespace=%s agentobservation=%s agent=%s",
                    namespace,
                    name,
                    observation.agent,
                )
        except StoreError as error:
            # Event handlers are not retried by kopf; the periodic reconcile heals this.
            logger.warning(
                "registration not stored, the next reconcile retries"
                " namespace=%s agentobservation=%s error=%s",
                namespace,
                name,
                error,
            )

    return handlers
