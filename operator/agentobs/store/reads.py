"""Queries that read usage: totals per model, recent windows, instances and registrations.

Each read runs in one REPEATABLE READ transaction, so the totals, windows and
active-instance counts of one result come from the same snapshot and the same now().
The 1 h and 24 h windows have one-minute resolution: a minute counts while its
sample's start lies inside the window.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import asyncpg

from agentobs import protocol

_COUNTERS = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "calls",
    "unreported_calls",
)

# $1: namespace or NULL for all, $2: AgentObservation name or NULL for all, and in
# _REGISTRATIONS $3: the active window in seconds for objects without stale_after_seconds.
_SELECTED = """
    SELECT a.namespace, a.name, a.agent
      FROM registered_agents a
     WHERE ($1::text IS NULL OR a.namespace = $1) AND ($2::text IS NULL OR a.name = $2)
"""

_REGISTRATIONS = f"""
WITH selected AS ({_SELECTED})
SELECT a.namespace, a.name, a.agent, r.last_heartbeat_at,
       (SELECT count(*) FROM instances i
         WHERE i.namespace = a.namespace AND i.agent = a.agent AND NOT i.final
           AND i.last_heartbeat_at > now() - make_interval(
                   secs => coalesce(g.stale_after_seconds, $3::double precision))
       ) AS active_instances
  FROM selected a
  JOIN registered_agents g USING (namespace, name)
  LEFT JOIN reporting_agents r ON r.namespace = a.namespace AND r.agent = a.agent
 ORDER BY a.namespace, a.name
"""

_MODEL_TOTALS = f"""
WITH selected AS ({_SELECTED})
SELECT t.* FROM model_totals t
 WHERE (t.namespace, t.agent) IN (SELECT namespace, agent FROM selected)
 ORDER BY t.namespace, t.agent, t.model
"""

_WINDOWS = f"""
WITH selected AS ({_SELECTED})
SELECT s.namespace, s.agent, w.name AS window,
       {", ".join(f"sum(s.{counter}) AS {counter}" for counter in _COUNTERS)}
  FROM usage_samples s
  JOIN (VALUES ('hour', interval '1 hour'), ('day', interval '1 day')) AS w(name, length)
    ON s.minute > now() - w.length
 WHERE (s.namespace, s.agent) IN (SELECT namespace, agent FROM selected)
 GROUP BY s.namespace, s.agent, w.name
"""

_AgentKey = tuple[str, str]


def _counters(row: Mapping[str, Any]) -> dict[str, int]:
    return {counter: int(row[counter]) for counter in _COUNTERS}


def _sum(models: list[protocol.ModelTotals]) -> protocol.TokenTotals:
    return protocol.TokenTotals(
        **{counter: sum(getattr(model, counter) for model in models) for counter in _COUNTERS}
    )


async def read_usage(
    connection: asyncpg.Connection,
    *,
    namespace: str | None,
    name: str | None,
    active_window_seconds: float,
) -> list[protocol.AgentUsage]:
    """Read the usage of the selected AgentObservations, sorted by namespace and name."""
    arguments = (namespace, name)
    async with connection.transaction(isolation="repeatable_read", readonly=True):
        registrations = await connection.fetch(_REGISTRATIONS, *arguments, active_window_seconds)
        model_rows = await connection.fetch(_MODEL_TOTALS, *arguments)
        window_rows = await connection.fetch(_WINDOWS, *arguments)

    models: dict[_AgentKey, list[protocol.ModelTotals]] = defaultdict(list)
    for row in model_rows:
        models[row["namespace"], row["agent"]].append(
            protocol.ModelTotals(model=row["model"], **_counters(row))
        )
    windows: dict[tuple[str, str, str], protocol.TokenTotals] = {
        (row["namespace"], row["agent"], row["window"]): protocol.TokenTotals(**_counters(row))
        for row in window_rows
    }

    empty = protocol.TokenTotals()
    usage = []
    for row in registrations:
        key = (row["namespace"], row["agent"])
        usage.append(
            protocol.AgentUsage(
                namespace=row["namespace"],
                name=row["name"],
                agent=row["agent"],
                totals=_sum(models[key]),
                models=tuple(models[key]),
                last_hour=windows.get((*key, "hour"), empty),
                last_day=windows.get((*key, "day"), empty),
                active_instances=int(row["active_instances"]),
                last_heartbeat_time=row["last_heartbeat_at"],
            )
        )
    return usage
