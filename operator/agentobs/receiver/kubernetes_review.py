"""TokenReview and SubjectAccessReview calls to the Kubernetes API server, cached.

Results are cached by SHA-256 of the token (accepted tokens for the TTL setting,
rejected ones for the shorter negative TTL), so steady-state heartbeats cost no API
call. Concurrent checks of the same uncached token share one API call.

Limitation: a token revoked on the API server (its pod deleted) is still accepted
until its cache entry expires, at most `token_cache_ttl_seconds` later.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
from kubernetes_asyncio import client as k8s

from agentobs.metrics import ReceiverMetrics
from agentobs.receiver.cache import TtlCache, token_digest

logger = logging.getLogger(__name__)

_REQUEST_TIMEOUT_SECONDS = 10.0
_SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"

Result = TypeVar("Result")


class ReviewUnavailable(Exception):
    """The API server could not complete a review, so the caller should retry later."""


@dataclass(frozen=True)
class ReviewedUser:
    """The identity the API server found for an accepted token."""

    username: str
    uid: str | None = None
    groups: tuple[str, ...] = ()
    extra: Mapping[str, list[str]] = field(default_factory=dict)

    @property
    def service_account(self) -> tuple[str, str] | None:
        """Return (namespace, name) if the user is a ServiceAccount, else None."""
        if not self.username.startswith(_SERVICE_ACCOUNT_PREFIX):
            return None
        namespace, _, name = self.username.removeprefix(_SERVICE_ACCOUNT_PREFIX).partition(":")
        if not namespace or not name:
            return None
        return namespace, name


class KubernetesReviewer:
    """Checks tokens with TokenReview and permissions with SubjectAccessReview."""

    def __init__(
        self,
        api_client: Any,
        *,
        ttl_seconds: float,
        negative_ttl_seconds: float,
        cache_size: int,
        metrics: ReceiverMetrics,
    ) -> None:
        self._authentication = k8s.AuthenticationV1Api(api_client)
        self._authorization = k8s.AuthorizationV1Api(api_client)
        self._ttl = ttl_seconds
        self._negative_ttl = negative_ttl_seconds
        self._users: TtlCache[ReviewedUser | bool] = TtlCache(cache_size)
        self._permissions: TtlCache[bool] = TtlCache(cache_size)
        self._pending: dict[str, asyncio.Future[Any]] = {}
        self._metrics = metrics

    async def review_token(self, token: str, *, audience: str | None) -> ReviewedUser | None:
        """Return the token's user, or None if the API server rejects the token.

        With an `audience`, the token must have been issued for it. Raises
        `ReviewUnavailable` when the API server cannot be asked.
        """
        key = f"{audience or ''}/{token_digest(token)}"
        cached = self._users.get(key)
        if cached is not None:
            self._metrics.token_reviews.labels(source="cache").inc()
            return cached if isinstance(cached, ReviewedUser) else None

        async def call() -> ReviewedUser | None:
            self._metrics.token_reviews.labels(source="token_review").inc()
            user = await self._call_token_review(token, audience)
            if user is None:
                self._users.put(key, False, self._negative_ttl)
            else:
                self._users.put(key, user, self._ttl)
            return user

        return await self._once(key, call)

    async def may_get_observations(self, user: ReviewedUser, *, token: str, namespace: str) -> bool:
        """Return whether `user` may get agentobservations.agentobs.dev in `namespace`."""
        key = f"{namespace}/{token_digest(token)}"
        cached = self._permissions.get(key)
        if cached is not None:
            return cached

        async def call() -> bool:
            allowed = await self._call_access_review(user, namespace)
            self._permissions.put(key, allowed, self._ttl if allowed else self._negative_ttl)
            return allowed

        return await self._once(f"access/{key}", call)

    async def _once(self, key: str, call: Callable[[], Awaitable[Result]]) -> Result:
        """Run `call` once for concurrent requests with the same key; all get its result."""
        pending = self._pending.get(key)
        if pending is not None:
            result: Result = await asyncio.shield(pending)
            return result
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            value = await call()
        except BaseException as error:
            future.set_exception(error)
            # The waiters, if any, receive the error; without waiters it must not warn.
            future.exception()
            raise
        else:
            future.set_result(value)
            return value
        finally:
            del self._pending[key]

    async def _call_token_review(self, token: str, audience: str | None) -> ReviewedUser | None:
        spec = k8s.V1TokenReviewSpec(token=token, audiences=[audience] if audience else None)
        response = await self._call(
            "TokenReview",
            self._authentication.create_token_review(
                k8s.V1TokenReview(spec=spec), _request_timeout=_REQUEST_TIMEOUT_SECONDS
            ),
        )
        status = response.status
        if status is None or not status.authenticated or status.user is None:
            return None
        if audience and audience not in (status.audiences or []):
            return None
        return ReviewedUser(
            username=status.user.username or "",
            uid=status.user.uid,
            groups=tuple(status.user.groups or ()),
            extra=dict(status.user.extra or {}),
        )

    async def _call_access_review(self, user: ReviewedUser, namespace: str) -> bool:
        spec = k8s.V1SubjectAccessReviewSpec(
            user=user.username,
            uid=user.uid,
            groups=list(user.groups),
            extra=dict(user.extra) or None,
            resource_attributes=k8s.V1ResourceAttributes(
                namespace=namespace,
                verb="get",
                group="agentobs.dev",
                resource="agentobservations",
            ),
        )
        response = await self._call(
            "SubjectAccessReview",
            self._authorization.create_subject_access_review(
                k8s.V1SubjectAccessReview(spec=spec), _request_timeout=_REQUEST_TIMEOUT_SECONDS
            ),
        )
        return bool(response.status is not None and response.status.allowed)

    async def _call(self, kind: str, request: Awaitable[Any]) -> Any:
        try:
            return await request
        except k8s.ApiException as error:
            logger.error(
                "%s failed on the API server status=%s reason=%s", kind, error.status, error.reason
            )
            raise ReviewUnavailable(f"{kind} failed with HTTP {error.status}") from error
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            logger.warning("%s could not reach the API server error=%s", kind, type(error).__name__)
            raise ReviewUnavailable(f"{kind} could not reach the API server") from error
