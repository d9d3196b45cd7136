"""Every Prometheus metric of agentobs, defined in one place on a given registry.

Names start with `agentobs_`, use base units (seconds, bytes) and counters end in
`_total`. The service's own metrics take label values from fixed sets (route
templates, status codes, outcome names), never from request data. The usage
metrics are labelled by AgentObservation and model, so their series grow with the
registered objects and the models their agents report.

Limitation: a model name stays a label value for as long as the store keeps its
totals, so an agent that reports many distinct model names adds a series each.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from agentobs import protocol

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class ReceiverMetrics:
    """Metrics of the HTTP receiver."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "agentobs_receiver_http_requests_total",
            "HTTP requests handled, by route template, method and status code.",
            ["route", "method", "code"],
            registry=registry,
        )
        self.request_duration = Histogram(
            "agentobs_receiver_http_request_duration_seconds",
            "Time from receiving a request to sending its response, by route template.",
            ["route", "method"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.requests_in_flight = Gauge(
            "agentobs_receiver_http_requests_in_flight",
            "HTTP requests being handled right now.",
            registry=registry,
        )
        self.heartbeats = Counter(
            "agentobs_receiver_heartbeats_total",
            "Heartbeats received, by outcome: stored, rejected (4xx) or failed (5xx).",
            ["outcome"],
            registry=registry,
        )
        self.token_reviews = Counter(
            "agentobs_receiver_token_reviews_total",
            "Token checks, by source: cache hits, TokenReview calls and static tokens.",
            ["source"],
            registry=registry,
        )


TOKEN_KINDS = (
    ("input", "input_tokens"),
    ("output", "output_tokens"),
    ("cache_read", "cache_read_tokens"),
    ("cache_write", "cache_write_tokens"),
    ("reasoning", "reasoning_tokens"),
)


class UsageCollector(Collector):
    """Exports the store's totals per AgentObservation and model as counters.

    Only the leading projector fills it, so a Prometheus sum over every replica
    counts each token once. The values are the store's, which the status shows
    too (the status may lag by at most the status interval).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._usage: tuple[protocol.AgentUsage, ...] = ()

    def update(self, usage: Iterable[protocol.AgentUsage]) -> None:
        """Replace the exported totals."""
        snapshot = tuple(usage)
        with self._lock:
            self._usage = snapshot

    def collect(self) -> Iterator[CounterMetricFamily]:
        with self._lock:
            usage = self._usage
        labels = ["namespace", "agentobservation", "model"]
        tokens = CounterMetricFamily(
            "agentobs_tokens",
            "LLM tokens used, by AgentObservation, model and kind"
            " (input includes cached input, output includes reasoning).",
            labels=[*labels, "kind"],
        )
        calls = CounterMetricFamily(
            "agentobs_calls", "Model calls whose usage the provider returned.", labels=labels
        )
        unreported = CounterMetricFamily(
            "agentobs_unreported_calls",
            "Model calls whose provider returned no usage.",
            labels=labels,
        )
        for agent in usage:
            for model in agent.models:
                key = [agent.namespace, agent.name, model.model]
                for kind, attribute in TOKEN_KINDS:
                    tokens.add_metric([*key, kind], getattr(model, attribute))
                calls.add_metric(key, model.calls)
                unreported.add_metric(key, model.unreported_calls)
        yield tokens
        yield calls
        yield unreported


class ProjectorMetrics:
    """Metrics of the status projector and its leader election."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.usage = UsageCollector()
        registry.register(self.usage)
        self.leader = Gauge(
            "agentobs_projector_leader",
            "1 while this replica holds the projector's leader lock, else 0.",
            registry=registry,
        )
        self.status_patches = Counter(
            "agentobs_projector_status_patches_total",
            "Status patches by result: patched, not_found, rejected (not retried), failed (retried)"
            " or throttled.",
            ["result"],
            registry=registry,
        )
        self.projection_failures = Counter(
            "agentobs_projector_pass_failures_total",
            "Projection passes that failed on an API or database error and were retried.",
            registry=registry,
        )
        self.projection_delay = Histogram(
            "agentobs_projector_delay_seconds",
            "Time from a store notification to the status patch that shows it.",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=registry,
        )
        self.projection_lag = Gauge(
            "agentobs_projector_lag_seconds",
            "Age of the oldest store change that no status shows yet.",
            registry=registry,
        )
