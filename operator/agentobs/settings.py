"""Settings of the receiver, with production defaults.

The CLI maps flags and environment variables onto `ReceiverSettings`; tests build it
directly. Every limit of the heartbeat protocol is a field here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, kw_only=True)
class ReceiverSettings:
    """Listen address, database connection and input limits of the receiver."""

    host: str = "0.0.0.0"
    """Address to listen on."""

    port: int = 8080
    """TCP port to listen on."""

    dsn: str = "postgresql://agentobs@localhost:5432/agentobs"
    """libpq connection URI of the Postgres store; never logged."""

    database_pool_size: int = 10
    """Maximum number of connections to Postgres held by one receiver."""

    database_timeout_seconds: float = 5.0
    """Time limit for connecting to Postgres and for one query, in seconds."""

    body_limit_bytes: int = 64 * 1024
    """Largest accepted request body, in bytes; larger bodies get 413."""

    max_models: int = 256
    """Maximum number of models in one heartbeat; more get 422."""

    token_audience: str = "agentobs"
    """Audience that ServiceAccount tokens of heartbeats must carry (TokenReview)."""

    read_token_audience: str | None = None
    """Audience required of tokens reading the usage API; None accepts the API server's default."""

    token_cache_ttl_seconds: float = 60.0
    """How long an accepted token is trusted without a new TokenReview, in seconds."""

    token_cache_negative_ttl_seconds: float = 5.0
    """How long a rejected token is rejected without a new TokenReview, in seconds."""

    token_cache_size: int = 10_000
    """Maximum number of cached token reviews; the least recently used are dropped first."""

    static_token_file: Path | None = None
    """YAML or JSON file mapping static bearer tokens to a namespace; reloaded on change."""

    allow_unauthenticated: bool = False
    """Accept requests without any token check. Only for local development."""

    kubeconfig: Path | None = None
    """Kubeconfig for TokenReview and SubjectAccessReview; None uses the in-cluster config."""

    max_unregistered_agents: int = 100
    """Maximum number of agents without an AgentObservation that may report in one namespace."""

    active_window_seconds: float = 300.0
    """Seconds since its last heartbeat within which an instance counts as active.

    An AgentObservation's stale_after_seconds takes precedence.
    """

    sample_retention_seconds: float = 2 * 24 * 3600.0
    """How long per-minute samples are kept, in seconds; at least one day."""

    prune_interval_seconds: float = 600.0
    """How often old samples are deleted, in seconds."""

    retry_after_seconds: int = 5
    """Retry-After value of 503 responses, in seconds."""

    shutdown_timeout_seconds: float = 30.0
    """How long in-flight requests may run after SIGTERM before the process exits."""

    def __post_init__(self) -> None:
        positive = {
            "port": self.port,
            "database_pool_size": self.database_pool_size,
            "database_timeout_seconds": self.database_timeout_seconds,
            "body_limit_bytes": self.body_limit_bytes,
            "max_models": self.max_models,
            "token_cache_size": self.token_cache_size,
            "max_unregistered_agents": self.max_unregistered_agents,
            "active_window_seconds": self.active_window_seconds,
            "prune_interval_seconds": self.prune_interval_seconds,
            "retry_after_seconds": self.retry_after_seconds,
        }
        for name, value in positive.items():
            if value <= 0:
                raise ValueError(f"{name} must be positive, received {value}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be from 0 to 65535, received {self.port}")
        if self.sample_retention_seconds < 24 * 3600:
            raise ValueError(
                "sample_retention_seconds must be at least 86400 (one day) so the 24 h window"
                f" is complete, received {self.sample_retention_seconds}"
            )
        if self.token_cache_ttl_seconds < 0 or self.token_cache_negative_ttl_seconds < 0:
            raise ValueError("token cache TTLs must not be negative")
