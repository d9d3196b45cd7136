"""The projector's calls to the Kubernetes API: read objects, patch status, post events.

Status changes are merge patches to the status subresource, so they never touch
the spec, never bump the generation and never conflict on resourceVersion.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from agentobs.resource import GROUP, KIND, PLURAL, VERSION

EVENT_SOURCE = "agentobs-projector"
# The API server rejects event messages over 1 KiB; ours stay far below.
EVENT_MESSAGE_LIMIT = 256

logger = logging.getLogger(__name__)

ObjectKey = tuple[str, str]


@dataclass(frozen=True)
class ObservedObject:
    """The identity, generation and status of one AgentObservation, as last read."""

    namespace: str
    name: str
    uid: str
    generation: int | None
    status: dict[str, Any]

    @property
    def key(self) -> ObjectKey:
        return (self.namespace, self.name)

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> ObservedObject:
        metadata = body.get("metadata") or {}
        return cls(
            namespace=str(metadata.get("namespace", "")),
            name=str(metadata.get("name", "")),
            uid=str(metadata.get("uid", "")),
            generation=metadata.get("generation"),
            status=dict(body.get("status") or {}),
        )


class PatchRejected(Exception):
    """The API server refused a status patch for a reason retrying will not fix."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"status patch rejected with HTTP {status}: {reason}")
        self.status = status


class ObjectGone(Exception):
    """The AgentObservation no longer exists (HTTP 404)."""


class PatchFailed(Exception):
    """A read or patch failed for a reason that may pass: 403 until RBAC is fixed, 429, 5xx,
    or a broken connection. The object stays pending and is retried."""

    def __init__(self, status: int | None, reason: str) -> None:
        code = f"HTTP {status}" if status is not None else "no response"
        super().__init__(f"{code}: {reason}")
        self.status = status


class StatusApi:
    """AgentObservation reads, status patches and events through one API client."""

    def __init__(self, api_client: client.ApiClient) -> None:
        self._objects = client.CustomObjectsApi(api_client)
        self._core = client.CoreV1Api(api_client)

    async def list_objects(self) -> dict[ObjectKey, ObservedObject]:
        """List every AgentObservation in every namespace."""
        body = await self._objects.list_cluster_custom_object(GROUP, VERSION, PLURAL)
        found = (ObservedObject.from_body(item) for item in body.get("items", []))
        return {item.key: item for item in found}

    async def read_object(self, namespace: str, name: str) -> ObservedObject:
        """Read one AgentObservation; raise ObjectGone when it does not exist."""
        try:
            body = await self._objects.get_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name
            )
        except ApiException as error:
            if error.status == 404:
                raise ObjectGone(f"{namespace}/{name}") from error
            raise PatchFailed(error.status, status_message(error)) from error
        except (OSError, aiohttp.ClientError, TimeoutError) as error:
            raise PatchFailed(None, _truncate(str(error) or type(error).__name__)) from error
        return ObservedObject.from_body(body)

    async def patch_status(
        self, namespace: str, name: str, status: dict[str, Any]
    ) -> ObservedObject:
        """Merge-patch the status subresource and return the object as stored."""
        try:
            body = await self._objects.patch_namespaced_custom_object_status(
                GROUP,
                VERSION,
                namespace,
                PLURAL,
                name,
                {"status": status},
                # The generated signature omits the request options it accepts.
                _content_type="application/merge-patch+json",  # type: ignore[call-arg]
            )
        except ApiException as error:
            if error.status == 404:
                raise ObjectGone(f"{namespace}/{name}") from error
            if error.status in (400, 409, 422):
                raise PatchRejected(error.status, status_message(error)) from error
            raise PatchFailed(error.status, status_message(error)) from error
        except (OSError, aiohttp.ClientError, TimeoutError) as error:
            raise PatchFailed(None, _truncate(str(error) or type(error).__name__)) from error
        return ObservedObject.from_body(body)

    async def post_event(
        self, observed: ObservedObject, *, reason: str, message: str, warning: bool = False
    ) -> None:
        """Post a core/v1 Event about the object; failures are logged, never raised."""
        now = datetime.now(UTC)
        event = client.CoreV1Event(
            metadata=client.V1ObjectMeta(generate_name=f"{observed.name}."),
            involved_object=client.V1ObjectReference(
                api_version=f"{GROUP}/{VERSION}",
                kind=KIND,
                name=observed.name,
                namespace=observed.namespace,
                uid=observed.uid,
            ),
            reason=reason,
            message=message[:EVENT_MESSAGE_LIMIT],
            type="Warning" if warning else "Normal",
            source=client.V1EventSource(component=EVENT_SOURCE),
            first_timestamp=now,
            last_timestamp=now,
            count=1,
        )
        try:
            await self._core.create_namespaced_event(observed.namespace, event)
        except (ApiException, OSError, aiohttp.ClientError, TimeoutError) as error:
            logger.warning(
                "event not posted namespace=%s agentobservation=%s reason=%s error=%s",
                observed.namespace,
                observed.name,
                reason,
                _truncate(str(error)),
            )


def status_message(error: ApiException) -> str:
    """Return the message of the API server's Status body, on one line and truncated."""
    message = str(error.reason or "")
    try:
        body = json.loads(error.body or "")
    except (TypeError, ValueError):
        body = None
    if isinstance(body, dict) and body.get("message"):
        message = str(body["message"])
    return _truncate(" ".join(message.split()))


def _truncate(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
