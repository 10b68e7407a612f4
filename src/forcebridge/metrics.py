"""Prometheus metrics: outbound calls to Jira and Salesforce, and our own HTTP server.

Salesforce orgs share one daily API quota among every integration, so calls per connection,
service and endpoint are the numbers users care about most (DESIGN.md §6). Each ``Metrics``
owns its registry: nothing is registered at import time, so tests and several apps in one
process never collide.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

# Vendor calls range from ~50 ms (cached metadata) to tens of seconds (bulk queries, uploads).
_OUTBOUND_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_SERVER_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
NO_CONNECTION = "none"


class Metrics:
    """The metric families ForceBridge exports, on one explicit registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.outbound_requests = Counter(
            "forcebridge_outbound_requests",
            "Requests ForceBridge sent to Jira or Salesforce, by connection, service, endpoint "
            "(ids collapsed) and status class (2xx..5xx, or 'error' when no response came back).",
            ["connection", "service", "endpoint", "status"],
            registry=self.registry,
        )
        self.outbound_duration = Histogram(
            "forcebridge_outbound_request_duration_seconds",
            "Time until the response headers of an outbound request arrived.",
            ["service", "endpoint"],
            buckets=_OUTBOUND_BUCKETS,
            registry=self.registry,
        )
        self.http_requests = Counter(
            "forcebridge_http_requests",
            "Requests served by ForceBridge, by method, route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.http_duration = Histogram(
            "forcebridge_http_request_duration_seconds",
            "Time ForceBridge took to answer a request.",
            ["method", "route"],
            buckets=_SERVER_BUCKETS,
            registry=self.registry,
        )

    def render(self) -> tuple[bytes, str]:
        """The exposition body and its content type, for ``GET /metrics``."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def outbound_call_count(self, *, service: str, connection: str | None = None) -> float:
        """Outbound calls made to ``service`` (optionally by one connection), all endpoints."""
        total = 0.0
        for family in self.outbound_requests.collect():
            for sample in family.samples:
                if not sample.name.endswith("_total"):
                    continue
                labels = sample.labels
                if labels.get("service") != service:
                    continue
                if connection is not None and labels.get("connection") != connection:
                    continue
                total += sample.value
        return total
