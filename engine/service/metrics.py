"""Prometheus metrics of the HTTP service, in a registry of their own (one per app).

``sellerpolicy_http_requests_total{method,route,status}``,
``sellerpolicy_http_request_seconds{method,route}`` (latency histogram),
``sellerpolicy_http_in_flight`` (requests being handled, never-shed paths
excluded), ``sellerpolicy_shed_total{reason}`` (``in_flight``: answered 503
at once; ``deadline``: answered 504 at the deadline; ``rate``: answered 429),
``sellerpolicy_decisions_total{pack,status}`` and
``sellerpolicy_errors_total{kind}`` (error responses by status code, and
``internal`` once more for each unexpected exception). ``route`` is the route template
(``/v1/decisions/{decision_id}``), never the raw path, so labels stay few.

With ``PROMETHEUS_MULTIPROC_DIR`` set (``sellerpolicy serve --workers N``
sets it to a fresh folder before starting the workers), every worker writes
its values there and :meth:`ServiceMetrics.render` reports the sum over all
workers (prometheus_client's multiprocess mode), whichever worker answers
``/metrics``; the in-flight gauge sums the live workers'.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector

__all__ = ["CONTENT_TYPE_LATEST", "MULTIPROCESS_DIR", "ServiceMetrics"]

#: The environment variable naming the folder shared by the workers' metrics.
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"

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
        self.in_flight = Gauge(
            "sellerpolicy_http_in_flight",
            "HTTP requests being handled (probes and metrics excluded).",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.shed = Counter(
            "sellerpolicy_shed",
            "Requests refused under load: in_flight (503), deadline (504), rate (429).",
            ("reason",),
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
        """The Prometheus text exposition (every worker's metrics in multiprocess mode)."""
        folder = os.environ.get(MULTIPROCESS_DIR)
        if not folder:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=folder)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
