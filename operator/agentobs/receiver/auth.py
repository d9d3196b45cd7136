"""Who is calling: bearer tokens checked against static grants or the API server.

Heartbeats need a token that maps to a namespace: a static token from the token
file, or a ServiceAccount token with the configured audience (TokenReview). Reads of
the usage API need a token whose user may `get` agentobservations in the namespace
(SubjectAccessReview); a static token may read its own namespace only.

With `allow_unauthenticated`, every request is accepted as an anonymous caller that
may report for and read any namespace.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from agentobs.receiver import errors
from agentobs.receiver.kubernetes_review import KubernetesReviewer, ReviewedUser, ReviewUnavailable
from agentobs.receiver.static_tokens import StaticTokens

logger = logging.getLogger(__name__)

_MAX_TOKEN_LENGTH = 16 * 1024


@dataclass(frozen=True)
class Caller:
    """An authenticated caller of the receiver.

    `namespace` is the only namespace it may report for (None: any, only when
    anonymous). `service_account` is the ServiceAccount name it reports as.
    """

    namespace: str | None
    service_account: str | None
    anonymous: bool = False


ANONYMOUS = Caller(namespace=None, service_account=None, anonymous=True)


def bearer_token(authorization: str | None) -> str:
    """Return the token of an `Authorization: Bearer` header or raise a 401 error."""
    if not authorization:
        raise errors.unauthenticated(
            "missing_token", "The request has no Authorization header; send 'Bearer <token>'."
        )
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise errors.unauthenticated(
            "invalid_authorization", "The Authorization header must be 'Bearer <token>'."
        )
    if len(token) > _MAX_TOKEN_LENGTH or not token.isprintable():
        raise errors.unauthenticated("invalid_token", "The bearer token is not valid.")
    return token


class Authenticator:
    """Checks callers against the static token file and the Kubernetes API server."""

    def __init__(
        self,
        *,
        reviewer: KubernetesReviewer | None,
        static_tokens: StaticTokens | None,
        audience: str,
        read_audience: str | None,
        allow_unauthenticated: bool,
        retry_after_seconds: int,
    ) -> None:
        self._reviewer = reviewer
        self._static_tokens = static_tokens
        self._audience = audience
        self._read_audience = read_audience
        self._allow_unauthenticated = allow_unauthenticated
        self._retry_after = retry_after_seconds

    async def reporter(self, authorization: str | None) -> Caller:
        """Return the caller of a heartbeat or raise 401 (or 503 if the API server is down)."""
        if self._allow_unauthenticated:
            return ANONYMOUS
        token = bearer_token(authorization)

        grant = self._static_tokens.lookup(token) if self._static_tokens else None
        if grant is not None:
            return Caller(namespace=grant.namespace, service_account=grant.service_account)

        user = await self._review(token, audience=self._audience)
        account = user.service_account if user is not None else None
        if account is None:
            raise errors.unauthenticated(
                "invalid_token",
                "The token is not a valid ServiceAccount token with the audience"
                f" {self._audience!r} nor a static token of this receiver.",
            )
        namespace, name = account
        return Caller(namespace=namespace, service_account=name)

    async def authorize_read(self, authorization: str | None, namespace: str) -> None:
        """Raise 401 or 403 unless the caller may read the usage of `namespace`."""
        if self._allow_unauthenticated:
            return
        token = bearer_token(authorization)

        grant = self._static_tokens.lookup(token) if self._static_tokens else None
        if grant is not None:
            if grant.namespace != namespace:
                raise errors.forbidden(
                    "namespace_forbidden",
                    f"This static token may only read namespace {grant.namespace!r}.",
                )
            return

        # Readers use their Kubernetes token, but an agent's own token works too.
        user = await self._review(token, audience=self._read_audience)
        if user is None and self._read_audience != self._audience:
            user = await self._review(token, audience=self._audience)
        if user is None:
            expected = (
                "the API server's default audience"
                if self._read_audience is None
                else repr(self._read_audience)
            )
            raise errors.unauthenticated(
                "invalid_token",
                f"The token was rejected by TokenReview; the usage API takes a token with"
                f" {expected} (kubectl create token) or {self._audience!r}.",
            )
        assert self._reviewer is not None  # _review returned a user, so a reviewer exists
        try:
            allowed = await self._reviewer.may_get_observations(
                user, token=token, namespace=namespace
            )
        except ReviewUnavailable as error:
            raise self._unavailable() from error
        if not allowed:
            raise errors.forbidden(
                "namespace_forbidden",
                f"User {user.username!r} may not get agentobservations.agentobs.dev"
                f" in namespace {namespace!r}.",
            )

    async def _review(self, token: str, *, audience: str | None) -> ReviewedUser | None:
        if self._reviewer is None:
            return None
        try:
            return await self._reviewer.review_token(token, audience=audience)
        except ReviewUnavailable as error:
            raise self._unavailable() from error

    def _unavailable(self) -> errors.HttpError:
        return errors.unavailable(
            "token_review_unavailable",
            "The Kubernetes API server could not check the token; retry later.",
            retry_after=self._retry_after,
        )
