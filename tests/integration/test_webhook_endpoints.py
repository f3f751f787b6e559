"""A merchant registers, lists, reads and deletes its webhook endpoints; the signing secret is
shown once; bad requests are problems naming the offending field; another merchant's endpoint
is not found, exactly like an unknown one."""

import base64
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sidewalk.bootstrap import Platform
from sidewalk.kernel.settings import Settings
from tests.factories import MerchantClient
from tests.integration.helpers import field_paths, problem

HOOK = "https://example.com/hooks/sidewalk"
UNKNOWN_ENDPOINT_ID = "whe_" + "0" * 32


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """No sender in the server: nothing here is sent."""
    return settings.model_copy(update={"webhooks_in_server": False})


def register(merchant: MerchantClient, **overrides: Any) -> dict[str, Any]:
    body = {"url": HOOK, "events": ["delivery.created", "delivery.delivered"], **overrides}
    response = merchant.post("/v1/webhook-endpoints", body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def delete(merchant: MerchantClient, endpoint_id: str) -> Any:
    return merchant.http.delete(f"/v1/webhook-endpoints/{endpoint_id}", headers=merchant.auth)


def test_an_endpoint_is_registered_and_its_secret_shown_only_then(
    merchant: MerchantClient, platform: Platform
) -> None:
    response = merchant.post(
        "/v1/webhook-endpoints",
        {
            "url": HOOK,
            "events": ["delivery.enroute_to_pickup", "delivery.delivered"],
            "description": "back office",
        },
    )

    assert response.status_code == 201, response.text
    created = response.json()
    assert created["id"].startswith("whe_")
    assert response.headers["location"] == f"/v1/webhook-endpoints/{created['id']}"
    assert created["url"] == HOOK
    assert created["events"] == ["delivery.enroute_to_pickup", "delivery.delivered"]
    assert created["description"] == "back office"
    assert created["status"] == "enabled"
    assert created["disabled_at"] is None
    secret = created.pop("secret")
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) >= 24

    fetched = merchant.get(f"/v1/webhook-endpoints/{created['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == created
    assert merchant.get("/v1/webhook-endpoints").json() == {"data": [created]}
    assert secret not in fetched.text + merchant.get("/v1/webhook-endpoints").text


def test_each_endpoint_gets_its_own_secret(merchant: MerchantClient) -> None:
    first, second = register(merchant), register(merchant)

    assert first["secret"] != second["secret"]
    listed = merchant.get("/v1/webhook-endpoints").json()["data"]
    assert [e["id"] for e in listed] == [first["id"], second["id"]]


def test_an_event_type_named_twice_is_kept_once(merchant: MerchantClient) -> None:
    created = register(merchant, events=["delivery.delivered", "delivery.delivered"])

    assert created["events"] == ["delivery.delivered"]


def test_a_deleted_endpoint_is_gone_from_the_api(merchant: MerchantClient) -> None:
    kept, deleted = register(merchant), register(merchant)

    response = delete(merchant, deleted["id"])

    assert response.status_code == 204
    assert response.content == b""
    problem(
        merchant.get(f"/v1/webhook-endpoints/{deleted['id']}"), 404, "webhook_endpoint_not_found"
    )
    problem(
        merchant.get(f"/v1/webhook-endpoints/{deleted['id']}/deliveries"),
        404,
        "webhook_endpoint_not_found",
    )
    problem(delete(merchant, deleted["id"]), 404, "webhook_endpoint_not_found")
    assert [e["id"] for e in merchant.get("/v1/webhook-endpoints").json()["data"]] == [kept["id"]]


def test_another_merchants_endpoint_is_not_found_exactly_like_an_unknown_one(
    merchant: MerchantClient, rival: MerchantClient
) -> None:
    endpoint = register(merchant)

    for path in ("/v1/webhook-endpoints/{}", "/v1/webhook-endpoints/{}/deliveries"):
        theirs = problem(rival.get(path.format(endpoint["id"])), 404, "webhook_endpoint_not_found")
        unknown = problem(rival.get(path.format(UNKNOWN_ENDPOINT_ID)), 404, theirs["code"])
        assert {k: v for k, v in theirs.items() if k not in {"detail", "instance"}} == {
            k: v for k, v in unknown.items() if k not in {"detail", "instance"}
        }
    problem(delete(rival, endpoint["id"]), 404, "webhook_endpoint_not_found")
    assert rival.get("/v1/webhook-endpoints").json() == {"data": []}
    assert merchant.get(f"/v1/webhook-endpoints/{endpoint['id']}").json()["status"] == "enabled"


BAD_BODIES: list[tuple[str, dict[str, Any], str]] = [
    ("an ftp URL", {"url": "ftp://example.com/hooks"}, "url"),
    ("a relative URL", {"url": "/hooks/sidewalk"}, "url"),
    ("a URL without a host", {"url": "https:///hooks"}, "url"),
    ("credentials in the URL", {"url": "https://user:pw@example.com/hooks"}, "url"),
    ("a user name in the URL", {"url": "https://user@example.com/hooks"}, "url"),
    ("a space in the URL", {"url": "https://exa mple.com/hooks"}, "url"),
    ("a fragment", {"url": "https://example.com/hooks#part"}, "url"),
    ("a port out of range", {"url": "https://example.com:99999/hooks"}, "url"),
    ("a URL too long", {"url": "https://example.com/" + "a" * 2100}, "url"),
    ("a URL that is a number", {"url": 42}, "url"),
    ("no events", {"events": []}, "events"),
    ("an unknown event type", {"events": ["delivery.teleported"]}, "events.0"),
    (
        "an unknown type after a known one",
        {"events": ["delivery.created", "quote.made"]},
        "events.1",
    ),
    ("events as a string", {"events": "delivery.created"}, "events"),
    ("a NUL in the description", {"description": "back\x00office"}, "description"),
    ("a description too long", {"description": "x" * 501}, "description"),
    ("a field the API does not know", {"secret": "whsec_mine"}, "secret"),
]


def test_bad_requests_are_problems_that_name_the_field_and_create_nothing(
    merchant: MerchantClient,
) -> None:
    wrong = []
    for name, change, field in BAD_BODIES:
        body = {"url": HOOK, "events": ["delivery.delivered"], **change}
        response = merchant.post("/v1/webhook-endpoints", body)
        if response.status_code != 422 or field not in field_paths(response.json()):
            wrong.append(f"{name}: {response.status_code} {response.text}")
        else:
            problem(response, 422, "validation_error")
    missing = merchant.post("/v1/webhook-endpoints", {"events": ["delivery.delivered"]})
    assert "url" in field_paths(problem(missing, 422, "validation_error"))
    problem(
        merchant.http.post(
            "/v1/webhook-endpoints",
            content=b'{"url": ',
            headers={**merchant.auth, "content-type": "application/json"},
        ),
        400,
        "malformed_json",
    )

    assert not wrong, "\n".join(wrong)
    assert merchant.get("/v1/webhook-endpoints").json() == {"data": []}


def test_an_api_key_is_needed(merchant: MerchantClient) -> None:
    problem(merchant.http.get("/v1/webhook-endpoints"), 401, "missing_api_key")
    problem(
        merchant.http.post("/v1/webhook-endpoints", json={"url": HOOK, "events": ["x"]}),
        401,
        "missing_api_key",
    )


def test_a_merchant_has_a_limited_number_of_endpoints(
    merchant: MerchantClient, rival: MerchantClient, platform: Platform
) -> None:
    limit = platform.settings.webhook_endpoints_per_merchant
    made = [register(merchant) for _ in range(limit)]

    refused = problem(
        merchant.post("/v1/webhook-endpoints", {"url": HOOK, "events": ["delivery.delivered"]}),
        409,
        "webhook_endpoint_limit_reached",
    )

    assert refused["limit"] == limit
    assert len(merchant.get("/v1/webhook-endpoints").json()["data"]) == limit
    register(rival)  # the limit is each merchant's own
    assert delete(merchant, made[0]["id"]).status_code == 204
    register(merchant)  # a deleted endpoint makes room


def test_a_bad_cursor_or_limit_on_the_log_is_a_problem(merchant: MerchantClient) -> None:
    endpoint = register(merchant)
    log = f"/v1/webhook-endpoints/{endpoint['id']}/deliveries"

    problem(merchant.get(log, cursor="not-a-cursor"), 422, "invalid_cursor")
    problem(
        merchant.get(log, cursor=_cursor("2026-01-05T12:00:00+00:00", "msg_1")),
        422,
        "invalid_cursor",
    )
    problem(
        merchant.get(log, cursor=_cursor("2026-01-05T12:00:00+00:00", "9" * 30)),
        422,
        "invalid_cursor",
    )
    assert "query.limit" in field_paths(
        problem(merchant.get(log, limit=0), 422, "validation_error")
    )
    assert "query.status" in field_paths(
        problem(merchant.get(log, status="lost"), 422, "validation_error")
    )


def _cursor(at: str, ident: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([at, ident]).encode()).decode().rstrip("=")


def test_the_contract_documents_what_an_endpoint_receives(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()

    hook = spec["webhooks"]["delivery-status"]["post"]
    assert {p["name"] for p in hook["parameters"] if p["in"] == "header"} == {
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
    }
    payload = spec["components"]["schemas"]["WebhookPayload"]
    assert set(payload["required"]) == {"type", "timestamp", "data"}
    assert payload["properties"]["data"] == {"$ref": "#/components/schemas/DeliveryRead"}
    created = spec["paths"]["/v1/webhook-endpoints"]["post"]["responses"]["201"]
    schema = created["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert "secret" in spec["components"]["schemas"][schema]["required"]
