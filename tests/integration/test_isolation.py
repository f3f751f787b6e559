"""Tenants: a merchant sees only its own quotes and deliveries; another merchant's id is
answered exactly like an id that does not exist. And no key, no answer."""

from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from sidewalk.bootstrap import Platform
from tests.factories import MerchantClient, quote_body
from tests.integration.helpers import (
    UNKNOWN_DELIVERY_ID,
    UNKNOWN_QUOTE_ID,
    problem,
    row_counts,
)


def assert_same_answer(
    theirs: httpx.Response, their_id: str, unknown: httpx.Response, unknown_id: str
) -> None:
    """The answer about someone else's id tells nothing an unknown id does not."""
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.headers["content-type"] == unknown.headers["content-type"]
    a, b = theirs.json(), unknown.json()
    assert a.keys() == b.keys()
    assert a["code"] == b["code"]
    for field in set(a) - {"detail", "instance"}:
        assert a[field] == b[field], field
    assert a["detail"].replace(their_id, "<id>") == b["detail"].replace(unknown_id, "<id>")
    assert a.get("instance", "").replace(their_id, "<id>") == b.get("instance", "").replace(
        unknown_id, "<id>"
    )


def test_another_merchants_quote_is_not_found_like_an_unknown_one(
    merchant: MerchantClient, rival: MerchantClient
) -> None:
    theirs = rival.quote()["id"]

    assert_same_answer(
        merchant.get(f"/v1/quotes/{theirs}"),
        theirs,
        merchant.get(f"/v1/quotes/{UNKNOWN_QUOTE_ID}"),
        UNKNOWN_QUOTE_ID,
    )
    problem(merchant.get(f"/v1/quotes/{theirs}"), 404, "quote_not_found")


def test_another_merchants_quote_cannot_be_ordered(
    merchant: MerchantClient, rival: MerchantClient, platform: Platform
) -> None:
    theirs = rival.quote()["id"]
    before = row_counts(platform)

    assert_same_answer(
        merchant.order(theirs, key="k-1"),
        theirs,
        merchant.order(UNKNOWN_QUOTE_ID, key="k-2"),
        UNKNOWN_QUOTE_ID,
    )
    assert row_counts(platform) == before
    assert rival.get(f"/v1/quotes/{theirs}").json()["used_by_delivery_id"] is None
    assert rival.order(theirs).status_code == 201


@pytest.mark.parametrize(
    ("method", "route"),
    [
        ("GET", "/v1/deliveries/{id}"),
        ("GET", "/v1/deliveries/{id}/events"),
        ("POST", "/v1/deliveries/{id}/cancel"),
    ],
)
def test_another_merchants_delivery_is_not_found_like_an_unknown_one(
    merchant: MerchantClient, rival: MerchantClient, method: str, route: str
) -> None:
    theirs = rival.delivery()
    events_before = rival.get(f"/v1/deliveries/{theirs['id']}/events").json()

    def call(ident: str) -> httpx.Response:
        path = route.format(id=ident)
        return merchant.get(path) if method == "GET" else merchant.post(path, {"reason": "mine"})

    assert_same_answer(
        call(theirs["id"]), theirs["id"], call(UNKNOWN_DELIVERY_ID), UNKNOWN_DELIVERY_ID
    )
    problem(call(theirs["id"]), 404, "delivery_not_found")
    assert rival.get(f"/v1/deliveries/{theirs['id']}").json()["status"] == "pending"
    assert rival.get(f"/v1/deliveries/{theirs['id']}").json() == theirs
    assert rival.get(f"/v1/deliveries/{theirs['id']}/events").json() == events_before


def test_a_merchant_lists_only_its_own_deliveries(
    merchant: MerchantClient, rival: MerchantClient
) -> None:
    mine = merchant.delivery()
    theirs = rival.delivery()

    listed = merchant.get("/v1/deliveries").json()["data"]
    by_reference = merchant.get(
        "/v1/deliveries", external_reference_id=theirs["external_reference_id"]
    ).json()["data"]

    assert [d["id"] for d in listed] == [mine["id"]]
    assert [d["id"] for d in by_reference] == [mine["id"]]
    assert [d["id"] for d in rival.get("/v1/deliveries").json()["data"]] == [theirs["id"]]


ROUTES: list[tuple[str, str, Any]] = [
    ("GET", "/v1/service-areas", None),
    ("POST", "/v1/quotes", quote_body()),
    ("GET", f"/v1/quotes/{UNKNOWN_QUOTE_ID}", None),
    ("POST", "/v1/deliveries", {"quote_id": UNKNOWN_QUOTE_ID}),
    ("GET", "/v1/deliveries", None),
    ("GET", f"/v1/deliveries/{UNKNOWN_DELIVERY_ID}", None),
    ("POST", f"/v1/deliveries/{UNKNOWN_DELIVERY_ID}/cancel", None),
    ("GET", f"/v1/deliveries/{UNKNOWN_DELIVERY_ID}/events", None),
]


CREDENTIALS: list[tuple[str, dict[str, str], str]] = [
    ("no key", {}, "missing_api_key"),
    ("empty bearer", {"Authorization": "Bearer "}, "missing_api_key"),
    ("basic auth", {"Authorization": "Basic dXNlcjpwYXNz"}, "missing_api_key"),
    ("wrong key", {"Authorization": "Bearer sk_live_nope"}, "invalid_api_key"),
]


def test_every_merchant_route_needs_a_valid_api_key(
    client: TestClient, merchant: MerchantClient, platform: Platform
) -> None:
    before = row_counts(platform)
    failures = []

    for name, headers, code in CREDENTIALS:
        for method, path, body in ROUTES:
            response = client.request(method, path, json=body, headers=headers)
            if response.status_code != 401 or response.json().get("code") != code:
                failures.append(f"{name}, {method} {path}: {response.status_code} {response.text}")
            elif not response.headers["content-type"].startswith("application/problem+json"):
                failures.append(f"{name}, {method} {path}: {response.headers['content-type']}")

    assert not failures, "\n".join(failures)
    assert row_counts(platform) == before


def test_a_refused_request_is_told_to_authenticate_with_a_bearer_key(
    client: TestClient, merchant: MerchantClient
) -> None:
    # RFC 9110 section 11.6.1: a 401 answer carries a WWW-Authenticate challenge.
    for headers in ({}, {"Authorization": "Bearer sk_live_nope"}):
        response = client.get("/v1/deliveries", headers=headers)
        assert response.status_code == 401
        assert response.headers.get("WWW-Authenticate", "").lower().startswith("bearer"), headers


def test_a_key_is_checked_whole(client: TestClient, merchant: MerchantClient) -> None:
    for wrong in (merchant.api_key[:-1], merchant.api_key + "x", merchant.api_key.upper()):
        response = client.get("/v1/deliveries", headers={"Authorization": f"Bearer {wrong}"})
        problem(response, 401, "invalid_api_key")


def test_the_bearer_scheme_is_case_insensitive(
    client: TestClient, merchant: MerchantClient
) -> None:
    response = client.get("/v1/deliveries", headers={"Authorization": f"bearer {merchant.api_key}"})

    assert response.status_code == 200
