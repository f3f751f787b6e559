"""Every call to either API lands in its service's audit log: who called, which route, for which
entities, how it ended and when; never a key, a token, a query string or a body."""

import time
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, Table, select

from sidewalk.app import create_deliveries_app
from sidewalk.bootstrap import Platform
from sidewalk.deliveries.models import API_REQUESTS as DELIVERIES_REQUESTS
from sidewalk.kernel.clock import ManualClock
from sidewalk.operations.domain import OperatorRole
from sidewalk.operations.models import API_REQUESTS as OPERATIONS_REQUESTS
from tests.factories import MerchantClient
from tests.fleet import SUNSET, Fleet

CUSTOMER = {"name": "Ana Ruiz", "phone": "+13105550100"}


def _read(engine: Engine, table: Table) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(select(table).order_by(table.c.seq))
        return [dict(row._mapping) for row in rows]


def merchant_calls(platform: Platform) -> list[dict[str, Any]]:
    platform.deliveries.audit.flush()
    return _read(platform.deliveries_engine, DELIVERIES_REQUESTS)


def ops_calls(platform: Platform) -> list[dict[str, Any]]:
    platform.operations.audit.flush()
    return _read(platform.operations_engine, OPERATIONS_REQUESTS)


def what(row: dict[str, Any]) -> tuple[Any, ...]:
    return row["method"], row["route"], row["status_code"], row["entity_ids"]


def who(row: dict[str, Any]) -> tuple[str, str | None]:
    return row["actor_type"], row["actor_id"]


def test_a_merchants_quote_and_delivery_are_recorded_with_route_status_and_ids(
    platform: Platform, merchant: MerchantClient, clock: ManualClock
) -> None:
    asked_at = clock.now()
    quote = merchant.quote()
    clock.advance(timedelta(seconds=5))
    ordered_at = clock.now()
    delivery = merchant.delivery(quote_id=quote["id"])
    assert merchant.get(f"/v1/quotes/{quote['id']}").status_code == 200
    assert merchant.get(f"/v1/deliveries/{delivery['id']}").status_code == 200

    rows = merchant_calls(platform)

    assert [what(r) for r in rows] == [
        ("POST", "/v1/quotes", 201, {}),
        ("POST", "/v1/deliveries", 201, {}),
        ("GET", "/v1/quotes/{quote_id}", 200, {"quote_id": quote["id"]}),
        ("GET", "/v1/deliveries/{delivery_id}", 200, {"delivery_id": delivery["id"]}),
    ]
    assert {who(r) for r in rows} == {("merchant", merchant.merchant_id)}
    assert [r["at"] for r in rows] == [asked_at, ordered_at, ordered_at, ordered_at]
    assert all(r["duration_ms"] >= 0 for r in rows)
    assert len({r["request_id"] for r in rows}) == 4


def test_a_request_without_valid_credentials_is_recorded_as_anonymous(
    platform: Platform, client: TestClient
) -> None:
    bad_key = client.get("/v1/deliveries", headers={"Authorization": "Bearer sk_live_nope"})
    no_key = client.get("/v1/deliveries/dlv_123")
    nowhere = client.get("/v1/no-such-thing")

    assert (bad_key.status_code, no_key.status_code, nowhere.status_code) == (401, 401, 404)
    rows = merchant_calls(platform)
    assert [what(r) for r in rows] == [
        ("GET", "/v1/deliveries", 401, {}),
        ("GET", "/v1/deliveries/{delivery_id}", 401, {"delivery_id": "dlv_123"}),
        ("GET", "unmatched", 404, {}),
    ]
    assert {who(r) for r in rows} == {("anonymous", None)}


def test_operators_and_robots_are_recorded_as_who_they_are(
    platform: Platform, fleet: Fleet
) -> None:
    boss = fleet.operator(OperatorRole.SUPERVISOR)
    made = fleet.post(boss.token, "/ops/v1/robots", {"serial": "SW-1", "display_name": "Bolt"})
    assert made.status_code == 201, made.text
    robot_token = made.json()["token"]
    reading = {"lat": SUNSET.lat, "lng": SUNSET.lng, "battery_pct": 77.5}
    assert fleet.post(robot_token, "/ops/v1/robots/SW-1/telemetry", reading).status_code == 200
    assert fleet.get(robot_token, "/ops/v1/robots").status_code == 403
    assert fleet.get("opt_not-a-token", "/ops/v1/robots/SW-1").status_code == 401

    rows = ops_calls(platform)

    assert [(who(r), what(r)) for r in rows] == [
        (("operator", boss.id), ("POST", "/ops/v1/robots", 201, {})),
        (
            ("robot", "SW-1"),
            ("POST", "/ops/v1/robots/{serial}/telemetry", 200, {"serial": "SW-1"}),
        ),
        (("robot", "SW-1"), ("GET", "/ops/v1/robots", 403, {})),
        (("anonymous", None), ("GET", "/ops/v1/robots/{serial}", 401, {"serial": "SW-1"})),
    ]
    assert merchant_calls(platform) == []  # each service keeps its own


def test_the_request_id_given_is_echoed_and_recorded_and_a_missing_one_is_made(
    platform: Platform, merchant: MerchantClient, fleet: Fleet
) -> None:
    def areas(request_id: str | None = None) -> str:
        headers = {"X-Request-ID": request_id} if request_id is not None else {}
        response = merchant.http.get("/v1/service-areas", headers={**merchant.auth, **headers})
        assert response.status_code == 200
        answered: str = response.headers["X-Request-ID"]
        return answered

    given = areas("checkout-42.retry_1")
    made = areas()
    not_sane = areas("two words")
    too_long = areas("x" * 65)
    ops = fleet.http.get("/ops/v1/hubs", headers={"X-Request-ID": "ops-7"})

    assert given == "checkout-42.retry_1"
    assert made.startswith("req_")
    assert not_sane.startswith("req_")
    assert too_long.startswith("req_")
    assert len({made, not_sane, too_long}) == 3
    assert [r["request_id"] for r in merchant_calls(platform)] == [
        given,
        made,
        not_sane,
        too_long,
    ]
    assert ops.status_code == 401
    assert ops.headers["X-Request-ID"] == "ops-7"
    assert [r["request_id"] for r in ops_calls(platform)] == ["ops-7"]


def test_no_key_token_query_string_or_phone_number_reaches_the_audit_log(
    platform: Platform, merchant: MerchantClient, fleet: Fleet
) -> None:
    delivery = merchant.delivery(customer=CUSTOMER)
    merchant.get(f"/v1/deliveries/{delivery['id']}/events")
    merchant.get("/v1/deliveries", external_reference_id="order-1042", limit=5)
    # A key sent as the request id by mistake is not taken as one.
    echoed = merchant.http.get(
        "/v1/service-areas", headers={**merchant.auth, "X-Request-ID": merchant.api_key}
    )
    assert echoed.headers["X-Request-ID"] != merchant.api_key
    admin = fleet.operator(OperatorRole.ADMIN)
    robot_token = fleet.robot("SW-1")
    fleet.get(admin.token, "/ops/v1/robots", state="idle")
    fleet.get(robot_token, "/ops/v1/robots/SW-1/task")
    fleet.get(admin.token + "x", "/ops/v1/hubs")

    logged = repr(merchant_calls(platform)) + repr(ops_calls(platform))

    assert delivery["id"] in logged
    for secret in (merchant.api_key, admin.token, robot_token, CUSTOMER["phone"]):
        assert secret not in logged
        assert secret[-12:] not in logged
    assert "order-1042" not in logged
    assert "idle" not in logged


def test_health_probes_and_the_docs_are_not_recorded(
    platform: Platform, client: TestClient, ops_client: TestClient
) -> None:
    for http in (client, ops_client):
        for path in ("/healthz", "/readyz", "/openapi.json", "/docs"):
            response = http.get(path)
            assert response.status_code == 200, path
            assert "X-Request-ID" not in response.headers

    assert merchant_calls(platform) == []
    assert ops_calls(platform) == []


def test_the_rows_are_written_by_themselves_and_on_shutdown(
    platform: Platform, merchant: MerchantClient
) -> None:
    assert merchant.get("/v1/service-areas").status_code == 200
    deadline = time.monotonic() + 10 * platform.settings.audit_flush_interval_s
    while not _read(platform.deliveries_engine, DELIVERIES_REQUESTS):
        assert time.monotonic() < deadline, "the audit row was not written in time"
        time.sleep(0.05)

    with TestClient(create_deliveries_app(platform, own_lifecycle=False)) as second:
        second.get("/v1/service-areas", headers=merchant.auth)
    # The first app still runs: the second one's shutdown wrote what it had.
    assert len(_read(platform.deliveries_engine, DELIVERIES_REQUESTS)) == 2


def test_an_audit_log_that_cannot_be_written_does_not_fail_requests(
    platform: Platform, merchant: MerchantClient, caplog: pytest.LogCaptureFixture
) -> None:
    DELIVERIES_REQUESTS.drop(platform.deliveries_engine)

    assert merchant.get("/v1/service-areas").status_code == 200
    assert platform.deliveries.audit.flush() == 0
    assert "were not written" in caplog.text
    assert merchant.get("/v1/service-areas").status_code == 200
