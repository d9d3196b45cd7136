"""Every Prometheus metric of agentobs, defined in one place on a given registry.

Names start with `agentobs_`, use base units (seconds, bytes) and counters end in
`_total`. Label values come from fixed sets (route templates, status codes, outcome
names), never from request data, so the number of series stays bounded.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

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
