"""Settings of the operator: the kopf handlers and the status projector."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class ProjectorSettings:
    """Rate, interval and size limits of the projector's writes to the Kubernetes API."""

    status_interval_seconds: float = 5.0
    """Minimum time between two status patches of one AgentObservation, in seconds."""

    status_qps: float = 10.0
    """Status patches per second across all objects, on average."""

    status_burst: int = 20
    """Status patches that may be sent at once before the QPS cap applies."""

    resync_interval_seconds: float = 180.0
    """How often every object is compared with the store, healing missed notifications."""

    stale_after_seconds: int = 300
    """Seconds without a heartbeat before Reporting turns False, unless the object sets it."""

    max_models: int = 20
    """Largest number of models listed in an object's status, the largest totals first."""

    leader_retry_seconds: float = 2.0
    """How often a standby replica tries to take the leader lock, in seconds."""

    def __post_init__(self) -> None:
        positive = {
            "status_interval_seconds": self.status_interval_seconds,
            "status_qps": self.status_qps,
            "status_burst": self.status_burst,
            "resync_interval_seconds": self.resync_interval_seconds,
            "stale_after_seconds": self.stale_after_seconds,
            "max_models": self.max_models,
            "leader_retry_seconds": self.leader_retry_seconds,
        }
        for name, value in positive.items():
            if value <= 0:
                raise ValueError(f"{name} must be positive, received {value}")
