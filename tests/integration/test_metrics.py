"""Each service's Prometheus `/metrics`: requests by route and code with their latency, the
state of the database at the scrape (deliveries, robots, open tasks, outbox lag), dispatch
batches and webhook outcomes, in the text format Prometheus parses."""

from typing import Any

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from sidewalk.operations.domain import OperatorRole
from tests.factories import MerchantClient
from tests.fleet import Fleet


def _scrape(http: Any) -> dict[str, list[tuple[dict[str, str], float]]]:
    answer = http.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def _value(
    samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str
) -> float:
    return sum(v for found, v in samples.get(name, []) if labels.items() <= found.items())


def test_the_deliveries_service_counts_requests_and_reads_its_database(
    client: TestClient, merchant: MerchantClient
) -> None:
    before = _value(_scrape(client), "sidewalk_http_requests_total", route="/v1/deliveries")
    merchant.delivery()
    merchant.get("/v1/deliveries")
    merchant.get("/v1/deliveries/dlv_unknown")

    samples = _scrape(client)
    ok = _value(
        samples, "sidewalk_http_requests_total", route="/v1/deliveries", method="GET", code="200"
    )
    assert ok >= 1
    assert _value(samples, "sidewalk_http_requests_total", route="/v1/deliveries") > before
    one = "/v1/deliveries/{delivery_id}"
    assert _value(samples, "sidewalk_http_requests_total", route=one, code="404") >= 1
    assert _value(samples, "sidewalk_http_request_duration_seconds_count", service="deliveries") > 0
    assert _value(samples, "sidewalk_deliveries", status="pending") == 1
    assert _value(samples, "sidewalk_deliveries", status="delivered") == 0
    assert _value(samples, "sidewalk_outbox_unpublished", service="deliveries") >= 1
    assert _value(samples, "sidewalk_outbox_lag_seconds", service="deliveries") >= 0


def test_the_operations_service_tells_robots_tasks_and_dispatch(fleet: Fleet) -> None:
    supervisor = fleet.operator(OperatorRole.SUPERVISOR)
    fleet.robot("SW-1")
    fleet.robot("SW-2")
    fleet.delivery_task()
    before = _value(_scrape(fleet.http), "sidewalk_dispatch_batch_tasks_count")
    assert fleet.post(supervisor.token, "/ops/v1/dispatch/run").status_code == 200

    samples = _scrape(fleet.http)
    assert _value(samples, "sidewalk_robots", state="idle") == 1
    assert _value(samples, "sidewalk_robots", state="on_task") == 1
    assert _value(samples, "sidewalk_tasks_open", status="assigned") == 1
    assert _value(samples, "sidewalk_dispatch_batch_tasks_count") == before + 1
    assert _value(samples, "sidewalk_dispatch_solve_seconds_count") >= 1
    assert (
        _value(samples, "sidewalk_http_requests_total", route="/ops/v1/dispatch/run", code="200")
        >= 1
    )
