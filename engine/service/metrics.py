"""Prometheus metrics of the HTTP service, in a registry of their own (one per app).

``sellerpolicy_http_requests_total{method,route,status}``,
``sellerpolicy_http_request_seconds{method,route}`` (latency histogram),
``sellerpolicy_decisions_total{pack,status}`` and
``sellerpolicy_errors_total{kind}`` (error responses by status code, and
``internal`` once more for each unexpected exception). ``route`` is the route template
(``/v1/decisions/{decision_id}``), never the raw path, so labels stay few.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "ServiceMetrics"]

_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class ServiceMetrics:
    """The counters and histogram of one service instance."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "sellerpolicy_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "sellerpolicy_http_request_seconds",
            "HTTP request latency in seconds, by method and route template.",
            ("method", "route"),
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.decisions = Counter(
            "sellerpolicy_decisions",
            "Decisions made and stored, by pack id and account status.",
            ("pack", "status"),
            registry=self.registry,
        )
        self.errors = Counter(
            "sellerpolicy_errors",
            "Error responses by status code (internal: unexpected exceptions).",
            ("kind",),
            registry=self.registry,
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request and its latency."""
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
