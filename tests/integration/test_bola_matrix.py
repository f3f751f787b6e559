"""Broken object-level authorisation, checked route by route: every merchant route that takes
an id is called with another merchant's real ids and must answer `404`, as for an id that
does not exist, and leave the other merchant's data as it was. The routes are read from the
application itself, so a new route with an id is checked, or fails here until it is."""

import re
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from tests.factories import MerchantClient

# How to find the rival's own id for each path parameter a merchant route takes.
ID_OF = {
    "quote_id": lambda rival: rival["quote"]["id"],
    "delivery_id": lambda rival: rival["delivery"]["id"],
    "endpoint_id": lambda rival: rival["endpoint"]["id"],
}

# A valid body for the routes that need one, so that only the id can be what is refused.
BODY_OF = {("PATCH", "/v1/deliveries/{delivery_id}"): {"dropoff_instructions": "Mine now"}}


def _merchant_routes(client: TestClient) -> list[tuple[str, str]]:
    return sorted(
        (method, route.path)
        for route in client.app.routes  # type: ignore[attr-defined]
        if isinstance(route, APIRoute) and route.path.startswith("/v1/") and "{" in route.path
        for method in route.methods
    )


@pytest.fixture
def rival_world(rival: MerchantClient) -> dict[str, Any]:
    endpoint = rival.post(
        "/v1/webhook-endpoints",
        {"url": "https://hooks.example.com/rival", "events": ["delivery.created"]},
    )
    assert endpoint.status_code == 201, endpoint.text
    return {"quote": rival.quote(), "delivery": rival.delivery(), "endpoint": endpoint.json()}


def test_every_route_with_an_id_hides_another_merchants_things(
    client: TestClient,
    merchant: MerchantClient,
    rival: MerchantClient,
    rival_world: dict[str, Any],
) -> None:
    routes = _merchant_routes(client)
    assert len(routes) >= 7  # quotes, deliveries (read, cancel, events), webhook endpoints
    for method, template in routes:
        names = re.findall(r"\{(\w+)\}", template)
        unknown = [n for n in names if n not in ID_OF]
        assert not unknown, f"{method} {template}: add its ids to ID_OF"
        path = template
        for name in names:
            path = path.replace(f"{{{name}}}", ID_OF[name](rival_world))
        body = BODY_OF.get((method, template))
        answer = merchant.http.request(method, path, json=body, headers=merchant.auth)
        assert answer.status_code == 404, (method, template, answer.status_code, answer.text)
        assert answer.json()["code"].endswith("_not_found"), (method, template)

    # Nothing of the rival's changed: the delivery was not cancelled, the endpoint not removed.
    delivery = rival.get(f"/v1/deliveries/{rival_world['delivery']['id']}").json()
    assert delivery["status"] == rival_world["delivery"]["status"]
    assert delivery["dropoff_instructions"] == rival_world["delivery"]["dropoff_instructions"]
    endpoint = rival.get(f"/v1/webhook-endpoints/{rival_world['endpoint']['id']}")
    assert endpoint.status_code == 200


def test_another_merchants_quote_in_a_body_is_not_found(
    merchant: MerchantClient, rival_world: dict[str, Any]
) -> None:
    answer = merchant.order(rival_world["quote"]["id"])
    assert answer.status_code == 404
    assert answer.json()["code"] == "quote_not_found"
