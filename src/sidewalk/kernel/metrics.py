"""Prometheus metrics, served at `/metrics` of each service: what the process has counted
since it started (requests by route and code and their latency, dispatch batches and solve
times, webhook attempts by outcome) and what the database says at the moment of the scrape
(each service adds its own: deliveries by status, tasks and robots, outbox lag).

The counters belong to the process: with several worker processes, each answers for itself
and Prometheus sums the scrapes of all of them."""

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry(auto_describe=True)

REQUESTS = Counter(
    "sidewalk_http_requests",
    "API requests answered, by service, method, route template and status code.",
    ["service", "method", "route", "code"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "sidewalk_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by service, method and route.",
    ["service", "method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
DISPATCH_BATCH = Histogram(
    "sidewalk_dispatch_batch_tasks",
    "Pending tasks in one area's dispatch batch.",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000),
    registry=REGISTRY,
)
DISPATCH_SOLVE = Histogram(
    "sidewalk_dispatch_solve_seconds",
    "Time to plan one area's dispatch batch.",
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5),
    registry=REGISTRY,
)
DISPATCH_ROUND = Histogram(
    "sidewalk_dispatch_round_seconds",
    "Time of one whole dispatch round: silent robots, pilots, charging and every area's batch.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10),
    registry=REGISTRY,
)
TELEMETRY_READINGS = Counter(
    "sidewalk_telemetry_readings",
    "Robot readings by how they were taken: memory (held, written at the next flush), "
    "afresh (the robot read again first) or use_case (a state changed: its own transaction).",
    ["path"],
    registry=REGISTRY,
)
WEBHOOK_ATTEMPTS = Counter(
    "sidewalk_webhook_attempts",
    "Webhook sends by outcome: delivered, retry (will be tried again), failed (given up).",
    ["outcome"],
    registry=REGISTRY,
)


def request_observer(service: str) -> Callable[[Mapping[str, Any]], None]:
    """Counts one answered request from its request-log row."""

    # Each labelled series found once (a lookup under the metric's lock costs more than the
    # count itself); routes are templates and statuses few, so these stay small.
    counts: dict[tuple[str, str, int], Any] = {}
    latencies: dict[tuple[str, str], Any] = {}

    def observe(row: Mapping[str, Any]) -> None:
        method, route, status = row["method"], row["route"], row["status_code"]
        count = counts.get((method, route, status))
        if count is None:
            count = counts[method, route, status] = REQUESTS.labels(
                service, method, route, str(status)
            )
        count.inc()
        latency = latencies.get((method, route))
        if latency is None:
            latency = latencies[method, route] = LATENCY.labels(service, method, route)
        latency.observe(row["duration_ms"] / 1000)

    return observe


class _Snapshot(Collector):
    def __init__(self, metrics: Iterable[Metric]) -> None:
        self._metrics = list(metrics)

    def collect(self) -> Iterable[Metric]:
        return self._metrics


def gauge(name: str, documentation: str, values: Mapping[tuple[str, ...], float],
          labels: tuple[str, ...] = ()) -> GaugeMetricFamily:  # fmt: skip
    """A gauge read at scrape time, one sample per label values (none: one sample)."""
    family = GaugeMetricFamily(name, documentation, labels=list(labels) or None)
    for label_values, value in values.items():
        family.add_metric(list(label_values), value)
    return family


def exposition(snapshot: Iterable[Metric]) -> bytes:
    """The process's metrics and `snapshot` (read from the database now), in the text format."""
    now = CollectorRegistry(auto_describe=True)
    now.register(_Snapshot(snapshot))
    return generate_latest(REGISTRY) + generate_latest(now)
