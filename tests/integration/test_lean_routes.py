"""The robots' hot route is served lean (`kernel/lean_routes.py`), and answers exactly as the
documented route of the same contract would: the same status and the same problem details for
every bad path, body and content type, and the same robot for a good reading."""

from typing import Any

import pytest
from fastapi.testclient import TestClient

from sidewalk.app import create_operations_app
from sidewalk.bootstrap import Platform
from sidewalk.operations.api import LEAN_ROUTES
from tests.fleet import Fleet

GOOD = b'{"lat": 34.0901, "lng": -118.3617, "battery_pct": 80, "at": "2026-01-05T12:00:00Z"}'
BODIES = [
    GOOD,
    b"",
    b"{not json",
    b"\xff\xfe\x00",
    b"[]",
    b"{}",
    b"null",
    b'{"lat": 34.09}',
    b'{"lat": "34", "lng": -118.36, "battery_pct": 80}',
    b'{"lat": 34.09, "lng": -118.36, "battery_pct": 180}',
    b'{"lat": 34.09, "lng": -118.36, "battery_pct": 80, "extra": 1}',
    b'{"lat": 34.09, "lng": -118.36, "battery_pct": 80, "state": "on_task"}',
    b'{"lat": 34.09, "lng": -118.36, "battery_pct": 80, "at": "yesterday"}',
]
CONTENT_TYPES = ["application/json", "application/merge-patch+json", "text/plain", None]
SERIALS = ["SW-1", "SW-2", "-bad", "x" * 65]


@pytest.fixture
def documented(platform: Platform) -> Any:
    """The ops API with its documented routes only."""
    app = create_operations_app(platform, own_lifecycle=False, dispatch=False)
    app.router.routes = [r for r in app.router.routes if r not in LEAN_ROUTES]
    with TestClient(app) as client:
        yield client


def _answer(client: Any, token: str, serial: str, body: bytes, kind: str | None) -> Any:
    headers = {"Authorization": f"Bearer {token}"}
    if kind is not None:
        headers["Content-Type"] = kind
    answer = client.post(f"/ops/v1/robots/{serial}/telemetry", content=body, headers=headers)
    return answer.status_code, answer.headers.get("content-type"), answer.json()


def test_the_lean_telemetry_route_answers_as_the_documented_one(
    fleet: Fleet, documented: Any
) -> None:
    token = fleet.robot("SW-1")
    fleet.robot("SW-2")
    for who in (token, "rbt_unknown"):
        for serial in SERIALS:
            for kind in CONTENT_TYPES:
                for body in BODIES:
                    lean = _answer(fleet.http, who, serial, body, kind)
                    plain = _answer(documented, who, serial, body, kind)
                    assert lean == plain, (who, serial, kind, body)
    assert _answer(fleet.http, token, "SW-1", GOOD, "application/json")[0] == 200
