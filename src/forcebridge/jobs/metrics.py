"""Metrics of background automation, on the container's Prometheus registry.

``forcebridge_jobs{state}`` is read from the database at scrape time (the table is the truth, and
every process then reports the same depth); outcomes and webhook intake are counters of the
process that saw them.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from forcebridge.jobs.models import JOB_STATES, Job
from forcebridge.metrics import Metrics


class AutomationMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.job_outcomes = Counter(
            "forcebridge_job_outcomes",
            "Finished job runs by kind and outcome (done, retry, throttled, dead, needs_admin, "
            "released, lease_lost).",
            ["kind", "outcome"],
            registry=registry,
        )
        self.webhook_events = Counter(
            "forcebridge_webhook_events",
            "Jira webhook deliveries by outcome (received, duplicate, rejected, too_large, "
            "unavailable).",
            ["outcome"],
            registry=registry,
        )
        self.polled_changes = Counter(
            "forcebridge_polled_changes",
            "Salesforce records found changed by polling (after overlap dedupe).",
            ["salesforce_object"],
            registry=registry,
        )
        self._registry = registry
        self._depth_engines: set[int] = set()

    def watch_queue_depth(self, engine: Engine) -> None:
        """Export ``forcebridge_jobs{state}`` from ``engine``'s jobs table (once per engine)."""
        if id(engine) in self._depth_engines:
            return
        self._depth_engines.add(id(engine))
        self._registry.register(_QueueDepthCollector(engine))


class _QueueDepthCollector(Collector):
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "forcebridge_jobs", "Jobs in the database by state.", labels=["state"]
        )
        counts = dict.fromkeys(JOB_STATES, 0)
        try:
            with Session(self._engine) as session:
                for state, count in session.execute(
                    select(Job.state, func.count()).group_by(Job.state)
                ):
                    counts[state] = int(count)
        except Exception:  # a scrape must not fail because the database blinked
            return
        for state, count in counts.items():
            family.add_metric([state], count)
        yield family


_by_registry: weakref.WeakKeyDictionary[CollectorRegistry, AutomationMetrics] = (
    weakref.WeakKeyDictionary()
)
_lock = threading.Lock()


def automation_metrics(metrics: Metrics) -> AutomationMetrics:
    """The automation metric families of ``metrics`` (created on first use)."""
    with _lock:
        found = _by_registry.get(metrics.registry)
        if found is None:
            found = AutomationMetrics(metrics.registry)
            _by_registry[metrics.registry] = found
        return found
