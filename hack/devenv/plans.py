"""Plans of model calls for the sample agents: realistic token sizes, reproducible by seed."""

from __future__ import annotations

import random
from typing import Any

Plan = list[list[dict[str, Any]]]


def build_plan(seed: int, rounds: int, models: tuple[str, ...]) -> Plan:
    """Return `rounds` rounds of one to three calls; the same seed gives the same plan."""
    rng = random.Random(seed)
    plan: Plan = []
    for _ in range(rounds):
        calls = []
        for _ in range(rng.randint(1, 3)):
            input_tokens = rng.randint(500, 30_000)
            output_tokens = rng.randint(50, 3_000)
            calls.append(
                {
                    "model": rng.choice(models),
                    "input_tokens": input_tokens,
                    "output_tokens": output_tokens,
                    "cache_read_tokens": rng.randint(0, input_tokens // 2),
                    "reasoning_tokens": rng.randint(0, output_tokens // 3),
                }
            )
        plan.append(calls)
    return plan


def plan_totals(plan: Plan) -> dict[str, int]:
    """Sum a plan: input, output and total tokens, and the number of calls."""
    calls = [call for round_ in plan for call in round_]
    input_tokens = sum(call["input_tokens"] for call in calls)
    output_tokens = sum(call["output_tokens"] for call in calls)
    return {
        "input": input_tokens,
        "output": output_tokens,
        "total": input_tokens + output_tokens,
        "calls": len(calls),
    }
