"""Metric definitions follow the naming rules and live on the registry they are given."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from agentobs.metrics import ReceiverMetrics


def test_names_are_prefixed_and_counters_end_in_total() -> None:
    registry = CollectorRegistry()
    ReceiverMetrics(registry)

    families = list(registry.collect())

    assert families
    for family in families:
        assert family.name.startswith("agentobs_"), family.name
        if family.type == "counter":
            assert any(sample.name.endswith("_total") for sample in family.samples) or not (
                family.samples
            )


def test_two_registries_hold_separate_metrics() -> None:
    first, second = ReceiverMetrics(CollectorRegistry()), ReceiverMetrics(CollectorRegistry())

    first.heartbeats.labels(outcome="stored").inc()

    assert second.heartbeats.labels(outcome="stored")._value.get() == 0
