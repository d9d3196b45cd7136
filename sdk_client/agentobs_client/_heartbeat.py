"""Heartbeat bodies built from ledger snapshots (protocol v1).

Every count is cumulative since the instance started, and every model the
instance has used is present, so the receiver can keep the greatest value per
(agent, instance, model) and count each token exactly once.
"""

from __future__ import annotations

import datetime
import json
from typing import NewType, TypedDict

from agentobs_client import _ledger

__all__ = ["HeartbeatBody", "InstanceId", "ModelUsageBody", "build_heartbeat", "encode"]

InstanceId = NewType("InstanceId", str)


class ModelUsageBody(TypedDict):
    """One entry of `usage` in a heartbeat."""

    model: str
    inputTokens: int
    outputTokens: int
    cacheReadTokens: int
    cacheWriteTokens: int
    reasoningTokens: int
    calls: int
    unreportedCalls: int


class HeartbeatBody(TypedDict):
    """The JSON body of `POST /v1/heartbeats`."""

    namespace: str
    agent: str
    instance: str
    sequence: int
    startedAt: str
    final: bool
    skippedRecords: int
    usage: list[ModelUsageBody]


def build_heartbeat(
    snapshot: _ledger.UsageSnapshot,
    *,
    namespace: str,
    agent: str,
    instance: InstanceId,
    sequence: int,
    started_at: datetime.datetime,
    final: bool,
) -> HeartbeatBody:
    """Build the heartbeat that carries `snapshot`, with models sorted by name."""
    usage = [
        ModelUsageBody(
            model=model,
            inputTokens=counts.input_tokens,
            outputTokens=counts.output_tokens,
            cacheReadTokens=counts.cache_read_tokens,
            cacheWriteTokens=counts.cache_write_tokens,
            reasoningTokens=counts.reasoning_tokens,
            calls=counts.calls,
            unreportedCalls=counts.unreported_calls,
        )
        for model, counts in sorted(snapshot.models.items())
    ]
    return HeartbeatBody(
        namespace=namespace,
        agent=agent,
        instance=instance,
        sequence=sequence,
        startedAt=started_at.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        final=final,
        skippedRecords=snapshot.skipped_records,
        usage=usage,
    )


def encode(body: HeartbeatBody) -> bytes:
    """Encode a heartbeat as compact ASCII JSON."""
    return json.dumps(body, separators=(",", ":")).encode("ascii")
