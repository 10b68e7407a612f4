"""Metrics: explicit registries, the exposition format, and call counts for tests."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from forcebridge.metrics import Metrics


def test_each_metrics_object_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()
    first.outbound_requests.labels(
        connection="c1", service="jira", endpoint="/x", status="2xx"
    ).inc()
    assert first.outbound_call_count(service="jira") == 1
    assert second.outbound_call_count(service="jira") == 0


def test_a_given_registry_is_used() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    assert metrics.registry is registry
    metrics.http_requests.labels(method="GET", route="/health", status="200").inc()
    assert (
        registry.get_sample_value(
            "forcebridge_http_requests_total",
            {"method": "GET", "route": "/health", "status": "200"},
        )
        == 1
    )


def test_outbound_call_count_filters_by_service_and_connection() -> None:
    metrics = Metrics()
    counter = metrics.outbound_requests
    counter.labels(connection="c1", service="salesforce", endpoint="/a", status="2xx").inc(3)
    counter.labels(connection="c1", service="salesforce", endpoint="/b", status="4xx").inc()
    counter.labels(connection="c2", service="salesforce", endpoint="/a", status="2xx").inc()
    counter.labels(connection="c1", service="jira", endpoint="/a", status="2xx").inc()
    assert metrics.outbound_call_count(service="salesforce") == 5
    assert metrics.outbound_call_count(service="salesforce", connection="c1") == 4
    assert metrics.outbound_call_count(service="salesforce", connection="c3") == 0


def test_render_produces_the_prometheus_text_format() -> None:
    metrics = Metrics()
    metrics.http_duration.labels(method="POST", route="/external/api/association").observe(0.02)
    body, content_type = metrics.render()
    text = body.decode()
    assert content_type.startswith("text/plain; version=")
    assert "# TYPE forcebridge_http_request_duration_seconds histogram" in text
    assert (
        'forcebridge_http_request_duration_seconds_bucket{le="0.025",method="POST",'
        'route="/external/api/association"} 1.0'
    ) in text
    assert "# TYPE forcebridge_outbound_requests_total counter" in text
