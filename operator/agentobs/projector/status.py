"""Pure builders of the AgentObservation status from the store's usage.

Nothing here talks to a server: the projector calls these and decides whether a
patch is needed by comparing the result with what the object already shows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from agentobs import protocol

REPORTING = "Reporting"

_COUNTERS = (
    ("inputTokens", "input_tokens"),
    ("outputTokens", "output_tokens"),
    ("totalTokens", "total_tokens"),
    ("cacheReadTokens", "cache_read_tokens"),
    ("cacheWriteTokens", "cache_write_tokens"),
    ("reasoningTokens", "reasoning_tokens"),
    ("calls", "calls"),
    ("unreportedCalls", "unreported_calls"),
)


def format_time(moment: datetime) -> str:
    """Format a time as Kubernetes does: RFC 3339 in UTC, whole seconds, `Z` suffix."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_counters(totals: protocol.TokenTotals) -> dict[str, int]:
    """Map store totals to the status field names."""
    return {field: int(getattr(totals, attribute)) for field, attribute in _COUNTERS}


def build_usage(usage: protocol.AgentUsage, *, max_models: int) -> dict[str, Any]:
    """Build `.status.usage`: totals, the largest `max_models` models, liveness fields."""
    largest = sorted(usage.models, key=lambda model: (-model.total_tokens, model.model))
    body: dict[str, Any] = build_counters(usage.totals)
    body["models"] = [
        {"model": model.model, **build_counters(model)} for model in largest[:max_models]
    ]
    body["activeInstances"] = usage.active_instances
    if usage.last_heartbeat_time is not None:
        body["lastHeartbeatTime"] = format_time(usage.last_heartbeat_time)
    return body


def build_reporting_condition(
    *,
    agent: str,
    last_heartbeat: datetime | None,
    now: datetime,
    stale_after_seconds: int,
    generation: int | None,
    previous: dict[str, Any] | None,
) -> dict[str, Any]:
    """Build the Reporting condition; keep the transition time while the status holds."""
    if last_heartbeat is None:
        status, reason = "False", "NoHeartbeats"
        message = f"No heartbeat received yet from agent {agent}"
    elif (now - last_heartbeat).total_seconds() > stale_after_seconds:
        status, reason = "False", "HeartbeatsStopped"
        message = f"No heartbeat from agent {agent} for over {stale_after_seconds} s"
    else:
        status, reason = "True", "HeartbeatsReceived"
        message = f"Agent {agent} is sending heartbeats"

    transition = now
    if previous is not None and previous.get("status") == status:
        transition_text = previous.get("lastTransitionTime")
        if isinstance(transition_text, str):
            return _condition(status, reason, message, transition_text, generation)
    return _condition(status, reason, message, format_time(transition), generation)


def _condition(
    status: str, reason: str, message: str, transition: str, generation: int | None
) -> dict[str, Any]:
    condition: dict[str, Any] = {
        "type": REPORTING,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": transition,
    }
    if generation is not None:
        condition["observedGeneration"] = generation
    return condition


def find_condition(status: dict[str, Any] | None, kind: str = REPORTING) -> dict[str, Any] | None:
    """Return the condition of type `kind` in an object's status, if any."""
    for condition in (status or {}).get("conditions") or []:
        if isinstance(condition, dict) and condition.get("type") == kind:
            return condition
    return None


def build_status(
    usage: protocol.AgentUsage,
    *,
    now: datetime,
    stale_after_seconds: int,
    max_models: int,
    generation: int | None,
    current: dict[str, Any] | None,
) -> dict[str, Any]:
    """Build the whole status the object should show, given what it shows now."""
    previous = find_condition(current)
    reporting = build_reporting_condition(
        agent=usage.agent,
        last_heartbeat=usage.last_heartbeat_time,
        now=now,
        stale_after_seconds=stale_after_seconds,
        generation=generation,
        previous=previous,
    )

    # Conditions of other types, set by someone else, are kept as they are.
    others = [
        condition
        for condition in (current or {}).get("conditions") or []
        if isinstance(condition, dict) and condition.get("type") != REPORTING
    ]
    status: dict[str, Any] = {
        "agent": usage.agent,
        "usage": build_usage(usage, max_models=max_models),
        "conditions": [*others, reporting],
    }
    if generation is not None:
        status["observedGeneration"] = generation
    return status


def needs_patch(current: dict[str, Any] | None, desired: dict[str, Any]) -> bool:
    """Tell whether any field of `desired` differs from the object's current status."""
    current = current or {}
    return any(current.get(key) != value for key, value in desired.items())


def reporting_transition(
    current: dict[str, Any] | None, desired: dict[str, Any]
) -> tuple[str, str] | None:
    """Return (event reason, message) when Reporting starts or stops, else None.

    A first projection that finds no heartbeats is no transition: nothing started
    or stopped.
    """
    before = find_condition(current)
    after = find_condition(desired)
    if after is None:
        return None
    was_true = before is not None and before.get("status") == "True"
    is_true = after.get("status") == "True"
    if is_true and not was_true:
        return "ReportingStarted", str(after.get("message", ""))
    if was_true and not is_true:
        return "ReportingStopped", str(after.get("message", ""))
    return None
