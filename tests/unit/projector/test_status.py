"""The status builders: pure functions from store usage to the AgentObservation status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from agentobs import protocol
from agentobs.projector import status

NOW = datetime(2026, 12, 4, 12, 0, 0, tzinfo=UTC)


def usage_of(*models: protocol.ModelTotals, last: datetime | None = NOW) -> protocol.AgentUsage:
    totals = protocol.TokenTotals(
        **{
            counter: sum(getattr(model, counter) for model in models)
            for counter in (
                "input_tokens",
                "output_tokens",
                "cache_read_tokens",
                "cache_write_tokens",
                "reasoning_tokens",
                "calls",
                "unreported_calls",
            )
        }
    )
    return protocol.AgentUsage(
        namespace="research",
        name="planner",
        agent="planner",
        totals=totals,
        models=models,
        last_hour=totals,
        last_day=totals,
        active_instances=2,
        last_heartbeat_time=last,
    )


def model(name: str, input_tokens: int, output_tokens: int) -> protocol.ModelTotals:
    return protocol.ModelTotals(
        model=name, input_tokens=input_tokens, output_tokens=output_tokens, calls=1
    )


def build(
    usage: protocol.AgentUsage,
    current: dict[str, object] | None = None,
    now: datetime = NOW,
    max_models: int = 20,
) -> dict[str, object]:
    return status.build_status(
        usage,
        now=now,
        stale_after_seconds=300,
        max_models=max_models,
        generation=3,
        current=current,  # type: ignore[arg-type]
    )


def test_usage_totals_are_exact_beyond_32_bits() -> None:
    built = build(usage_of(model("gpt-4o", 4_000_000_000, 1_000_000_000)))

    usage = built["usage"]
    assert isinstance(usage, dict)
    assert usage["totalTokens"] == 5_000_000_000
    assert usage["inputTokens"] == 4_000_000_000
    assert usage["outputTokens"] == 1_000_000_000
    assert usage["lastHeartbeatTime"] == "2026-12-04T12:00:00Z"
    assert usage["activeInstances"] == 2
    assert built["observedGeneration"] == 3


def test_models_are_capped_largest_first() -> None:
    built = build(
        usage_of(model("small", 1, 1), model("large", 100, 100), model("middle", 10, 10)),
        max_models=2,
    )

    usage = built["usage"]
    assert isinstance(usage, dict)
    assert [entry["model"] for entry in usage["models"]] == ["large", "middle"]
    assert usage["totalTokens"] == 222


def test_recent_heartbeat_means_reporting() -> None:
    condition = status.find_condition(build(usage_of(model("m", 1, 1))))

    assert condition is not None
    assert condition["status"] == "True"
    assert condition["reason"] == "HeartbeatsReceived"


def test_old_heartbeat_means_heartbeats_stopped() -> None:
    built = build(usage_of(model("m", 1, 1), last=NOW - timedelta(seconds=301)))

    condition = status.find_condition(built)
    assert condition is not None
    assert condition["status"] == "False"
    assert condition["reason"] == "HeartbeatsStopped"


def test_never_reported_object_shows_zero_and_no_heartbeats() -> None:
    built = build(usage_of(last=None))

    usage = built["usage"]
    assert isinstance(usage, dict)
    assert usage["totalTokens"] == 0
    assert "lastHeartbeatTime" not in usage
    condition = status.find_condition(built)
    assert condition is not None
    assert condition["reason"] == "NoHeartbeats"


def test_unchanged_status_needs_no_patch() -> None:
    first = build(usage_of(model("m", 5, 5)))

    second = build(usage_of(model("m", 5, 5)), current=first, now=NOW + timedelta(seconds=30))

    assert not status.needs_patch(first, second)
    assert status.find_condition(second) == status.find_condition(first)


def test_new_tokens_need_a_patch() -> None:
    first = build(usage_of(model("m", 5, 5)))

    second = build(usage_of(model("m", 6, 5)), current=first)

    assert status.needs_patch(first, second)


def test_transitions_give_started_and_stopped_events() -> None:
    reporting = build(usage_of(model("m", 1, 1)))
    stopped = build(usage_of(model("m", 1, 1), last=NOW - timedelta(hours=1)), current=reporting)

    assert status.reporting_transition(None, reporting) is not None
    assert status.reporting_transition(None, reporting)[0] == "ReportingStarted"  # type: ignore[index]
    assert status.reporting_transition(reporting, stopped)[0] == "ReportingStopped"  # type: ignore[index]
    assert status.reporting_transition(stopped, stopped) is None
    assert status.reporting_transition(None, build(usage_of(last=None))) is None


def test_conditions_of_other_types_are_kept() -> None:
    foreign = {"type": "Ready", "status": "True"}

    built = build(usage_of(model("m", 1, 1)), current={"conditions": [foreign]})

    assert foreign in built["conditions"]  # type: ignore[operator]
