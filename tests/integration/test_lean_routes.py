"""The hot routes (robots' telemetry, merchants' quotes and orders) are served lean
(`kernel/lean_routes.py`), and answer exactly as the documented route of the same contract
would: the same status and the same problem details for every bad path, body, header and
content type, and the same answer for a good request."""

from typing import Any

import pytest
from fastapi.testclient import TestClient

from sidewalk.app import create_deliveries_app, create_operations_app
from sidewalk.bootstrap import Platform
from sidewalk.deliveries.api import LEAN_ROUTES as DELIVERIES_LEAN_ROUTES
from sidewalk.kernel.rate_limit import RateLimiter
from sidewalk.operations.api import LEAN_ROUTES
from tests.factories import MerchantClient
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


QUOTE = b'{"pickup": {"lat": 34.0901, "lng": -118.3617, "full_address": "8500 Sunset Blvd"}, "dropoff": {"lat": 34.0857, "lng": -118.3760, "full_address": "1 Main St"}}'  # noqa: E501
MERCHANT_BODIES = [
    b"",
    b"{not json",
    b"\xff\xfe\x00",
    b"[]",
    b"{}",
    b'{"quote_id": 7}',
    b'{"quote_id": "quo_missing"}',
    b'{"quote_id": "quo_missing", "customer": {"name": ""}}',
    b'{"quote_id": "quo_missing", "undeliverable_action": "burn"}',
    b'{"pickup": {"lat": 99, "lng": 0, "full_address": "x"}}',
    QUOTE,
]
KEYS = [None, "order-1", "", "x" * 256]


@pytest.fixture
def documented_merchant_api(platform: Platform) -> Any:
    """The merchant API with its documented routes only (and no rate limit: the comparison
    sends hundreds of requests with one key)."""
    platform.deliveries.rate_limit = RateLimiter(0, 1)
    app = create_deliveries_app(platform, own_lifecycle=False)
    app.router.routes = [r for r in app.router.routes if r not in DELIVERIES_LEAN_ROUTES]
    with TestClient(app) as client:
        yield client


def _merchant_answer(
    client: Any, key: str, path: str, body: bytes, kind: str | None, **h: str
) -> Any:
    headers = {"Authorization": f"Bearer {key}", **h}
    if kind is not None:
        headers["Content-Type"] = kind
    answer = client.post(path, content=body, headers=headers)
    made = answer.json()
    if answer.status_code < 300:  # a new quote or delivery: the same fields, other ids
        made = sorted(made)
    return answer.status_code, answer.headers.get("content-type"), made


def test_the_lean_merchant_routes_answer_as_the_documented_ones(
    merchant: MerchantClient, documented_merchant_api: Any
) -> None:
    for api_key in (merchant.api_key, "sk_unknown"):
        for path in ("/v1/quotes", "/v1/deliveries"):
            for kind in CONTENT_TYPES:
                for body in MERCHANT_BODIES:
                    for idempotency_key in KEYS:
                        extra = (
                            {} if idempotency_key is None else {"Idempotency-Key": idempotency_key}
                        )
                        lean = _merchant_answer(merchant.http, api_key, path, body, kind, **extra)
                        plain = _merchant_answer(
                            documented_merchant_api, api_key, path, body, kind, **extra
                        )
                        assert lean == plain, (api_key, path, kind, body, idempotency_key)


def test_an_order_through_the_lean_route_replays_through_the_documented_one(
    merchant: MerchantClient, documented_merchant_api: Any
) -> None:
    quote = merchant.quote()
    body = f'{{"quote_id": "{quote["id"]}"}}'.encode()
    headers = {**merchant.auth, "Content-Type": "application/json", "Idempotency-Key": "k-1"}
    first = merchant.http.post("/v1/deliveries", content=body, headers=headers)
    again = documented_merchant_api.post("/v1/deliveries", content=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
