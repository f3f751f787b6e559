"""The ops API's published contract and its answers to bad input: problem details with a
stable code, never a 500, nothing written."""

from typing import Any

import pytest
from fastapi.testclient import TestClient

from sidewalk.operations import robots
from sidewalk.operations.domain import OperatorRole
from tests.fleet import SUNSET, Fleet

PROBLEM_REF = "#/components/schemas/Problem"


@pytest.fixture
def spec(ops_client: TestClient) -> dict[str, Any]:
    document: dict[str, Any] = ops_client.get("/openapi.json").json()
    return document


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, op)
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if path.startswith("/ops/v1/")
    ]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_ops_route_declares_bearer_auth_and_its_errors_as_problems(
    spec: dict[str, Any],
) -> None:
    operations = _operations(spec)
    assert operations
    for method, path, op in operations:
        assert op["security"], (method, path)
        assert {"401", "403", "413", "422"} <= set(op["responses"]), (method, path)
        for status, answer in op["responses"].items():
            if status.startswith("4"):
                media = answer["content"]["application/problem+json"]
                assert media["schema"]["$ref"] == PROBLEM_REF, (method, path, status)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_request_body_has_an_example(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    missing = []
    for method, path, op in _operations(spec):
        if "requestBody" not in op:
            continue
        schema = op["requestBody"]["content"]["application/json"]["schema"]
        if "anyOf" in schema:  # an optional body
            (schema,) = [s for s in schema["anyOf"] if s.get("type") != "null"]
        name = schema["$ref"].removeprefix("#/components/schemas/")
        if not schemas[name].get("examples"):
            missing.append(f"{method.upper()} {path}")
    assert not missing


def test_bad_requests_get_problem_details_and_write_nothing(fleet: Fleet) -> None:
    admin = fleet.operator(OperatorRole.ADMIN)
    token = fleet.robot("SW-1")
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    http = fleet.http
    telemetry = "/ops/v1/robots/SW-1/telemetry"
    cases = [
        (http.post(telemetry, content=b"{not json", headers=auth), 400),
        (http.post(telemetry, content=b"[" * 5_000_000, headers=auth), 413),
        (
            http.post(telemetry, json={"lat": 1, "lng": 2, "battery_pct": 3, "x": 1}, headers=auth),
            422,
        ),
        (http.post(telemetry, json={"lat": True, "lng": 2, "battery_pct": 3}, headers=auth), 422),
        (http.post(telemetry, json={"lat": 1, "lng": 2, "battery_pct": -1}, headers=auth), 422),
        (fleet.post(admin.token, "/ops/v1/robots", {"serial": "a b", "display_name": "X"}), 422),
        (fleet.post(admin.token, "/ops/v1/robots", {"serial": "A\x00", "display_name": "X"}), 422),
        (fleet.post(admin.token, "/ops/v1/robots", {"serial": "OK", "display_name": ""}), 422),
        (
            fleet.post(
                admin.token,
                "/ops/v1/robots",
                {"serial": "OK", "display_name": "X", "hub_id": "hub_no"},
            ),
            404,
        ),
        (fleet.post(admin.token, "/ops/v1/operators", {"email": "nope", "role": "pilot"}), 422),
        (fleet.post(admin.token, "/ops/v1/operators", {"email": "a@b.co", "role": "king"}), 422),
        (fleet.post(admin.token, "/ops/v1/hubs", {"name": "H", "lat": 91, "lng": 0}), 422),
        (
            fleet.post(
                admin.token,
                "/ops/v1/tasks",
                {"type": "delivery", "robot_serial": "SW-1", "hub_id": "h"},
            ),
            422,
        ),
        (fleet.post(admin.token, "/ops/v1/trips/trp_nope/events", {"event": "started"}), 404),
        (fleet.post(admin.token, "/ops/v1/trips/trp_nope/events", {"event": "teleported"}), 422),
        (fleet.post(admin.token, "/ops/v1/tasks/tsk_%00/cancel"), 422),
        (fleet.get(admin.token, "/ops/v1/tasks", cursor="garbage"), 422),
        (fleet.get(admin.token, "/ops/v1/tasks", limit=0), 422),
        (fleet.get(admin.token, "/ops/v1/tasks", robot_serial="SW\x00"), 422),
        (fleet.get(admin.token, "/ops/v1/robots/SW%00"), 422),
        (fleet.get(admin.token, "/ops/v1/robots/SW%00/state-history"), 422),
        (fleet.post(admin.token, "/ops/v1/robots/SW%00/maintenance", {"on": True}), 422),
        (fleet.get(admin.token, "/ops/v1/robots", area_id="a\x00"), 422),
        (fleet.post(admin.token, "/ops/v1/trips/trp_%00/events", {"event": "started"}), 422),
        (fleet.get(admin.token, "/ops/v1/operators/opr_%00"), 422),
        (fleet.patch(admin.token, "/ops/v1/operators/opr_%00", {"status": "available"}), 422),
        (fleet.get(admin.token, "/ops/v1/pilot-assignments", pilot_id="p\x00"), 422),
        (
            fleet.get(
                admin.token, "/ops/v1/robots/SW-1/state-history", since="0001-01-01T00:00:00+14:00"
            ),
            422,
        ),
        (fleet.get(admin.token, "/ops/v1/tasks", created_before="9999-12-31T23:59:59-14:00"), 422),
        (
            http.post(
                telemetry,
                json={"lat": 1, "lng": 2, "battery_pct": 3, "at": "0001-01-01T00:00:00+14:00"},
                headers=auth,
            ),
            422,
        ),
        (fleet.patch(admin.token, "/ops/v1/operators/opr_nope", {"status": "available"}), 404),
        (fleet.patch(admin.token, f"/ops/v1/operators/{admin.id}", {"status": "asleep"}), 422),
    ]
    for i, (answer, status) in enumerate(cases):
        assert answer.status_code == status, (i, answer.status_code, answer.text)
        if status >= 400:
            assert answer.headers["content-type"] == "application/problem+json", i
            assert answer.json()["code"], i
    assert [r.serial for r in robots.list_robots(fleet.ctx)] == ["SW-1"]
    assert robots.get_robot(fleet.ctx, "SW-1").lat == SUNSET.lat
