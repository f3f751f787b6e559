"""Builders for tests: merchants with keys, quote bodies, and a merchant's view of the API."""

from dataclasses import dataclass
from typing import Any

import httpx

from sidewalk.bootstrap import Platform
from sidewalk.deliveries import merchants

# Inside the default service area (West Hollywood), about 1.8 km apart on foot.
SUNSET = {"lat": 34.0901, "lng": -118.3617, "full_address": "8500 Sunset Blvd"}
MAIN_ST = {"lat": 34.0857, "lng": -118.3760, "full_address": "1 Main St, Apt 4"}
# Outside it: downtown Los Angeles, about 11 km away.
DOWNTOWN = {"lat": 34.0522, "lng": -118.2437, "full_address": "200 N Spring St"}


def quote_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "external_reference_id": "order-1042",
        "pickup": dict(SUNSET),
        "dropoff": dict(MAIN_ST),
        "order_value_cents": 2350,
    }
    body.update(overrides)
    return body


@dataclass
class MerchantClient:
    """One merchant talking to the API with its own key."""

    http: httpx.Client | Any
    merchant_id: str
    api_key: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def post(self, path: str, json: Any = None, **headers: str) -> httpx.Response:
        response: httpx.Response = self.http.post(path, json=json, headers={**self.auth, **headers})
        return response

    def get(self, path: str, **params: Any) -> httpx.Response:
        response: httpx.Response = self.http.get(path, params=params, headers=self.auth)
        return response

    def quote(self, **overrides: Any) -> dict[str, Any]:
        response = self.post("/v1/quotes", quote_body(**overrides))
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def order(
        self, quote_id: str | None = None, key: str | None = None, **extra: Any
    ) -> httpx.Response:
        body = {"quote_id": quote_id or self.quote()["id"], **extra}
        headers = {"Idempotency-Key": key} if key else {}
        return self.post("/v1/deliveries", body, **headers)

    def delivery(self, **extra: Any) -> dict[str, Any]:
        response = self.order(**extra)
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body


def make_merchant(
    platform: Platform, http: Any, name: str = "Sunset Bakery", **terms: Any
) -> MerchantClient:
    created = merchants.create_merchant(platform.deliveries, name, **terms)
    return MerchantClient(http, created.merchant.id, created.api_key)
