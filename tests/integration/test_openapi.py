"""The published contract (`/openapi.json`) and the health probes."""

from typing import Any

import pytest
from fastapi.testclient import TestClient

from sidewalk.app import create_deliveries_app
from sidewalk.bootstrap import bootstrap
from sidewalk.kernel.clock import ManualClock
from sidewalk.kernel.settings import Settings
from tests.databases import sqlite_url

ROUTES = {
    ("get", "/v1/service-areas"),
    ("post", "/v1/quotes"),
    ("post", "/v1/serviceability"),
    ("get", "/v1/quotes/{quote_id}"),
    ("post", "/v1/deliveries"),
    ("get", "/v1/deliveries"),
    ("get", "/v1/deliveries/{delivery_id}"),
    ("patch", "/v1/deliveries/{delivery_id}"),
    ("post", "/v1/deliveries/{delivery_id}/cancel"),
    ("get", "/v1/deliveries/{delivery_id}/events"),
    ("post", "/v1/webhook-endpoints"),
    ("get", "/v1/webhook-endpoints"),
    ("get", "/v1/webhook-endpoints/{endpoint_id}"),
    ("delete", "/v1/webhook-endpoints/{endpoint_id}"),
    ("get", "/v1/webhook-endpoints/{endpoint_id}/deliveries"),
    ("get", "/track/{token}/status"),
    ("get", "/track/{token}/live"),
    ("get", "/healthz"),
    ("get", "/readyz"),
}
PROBLEM_REF = "#/components/schemas/Problem"


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The contract does not depend on the database: read it once, from a SQLite platform."""
    var = tmp_path_factory.mktemp("openapi")
    platform = bootstrap(
        Settings(var_dir=var, deliveries_database_url=sqlite_url(var)), clock=ManualClock()
    )
    try:
        with TestClient(create_deliveries_app(platform, own_lifecycle=False)) as client:
            response = client.get("/openapi.json")
    finally:
        platform.close()
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def operations(spec: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method, path): operation
        for path, item in spec["paths"].items()
        for method, operation in item.items()
    }


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Follow a `$ref` (or the one non-null branch of an optional body) to the schema."""
    if "anyOf" in schema:
        (schema,) = [s for s in schema["anyOf"] if s.get("type") != "null"]
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        found: dict[str, Any] = spec["components"]["schemas"][name]
        return found
    return schema


def test_the_contract_lists_every_route(spec: dict[str, Any]) -> None:
    assert set(operations(spec)) == ROUTES


def test_every_request_body_has_an_example(spec: dict[str, Any]) -> None:
    missing = []
    for (method, path), operation in operations(spec).items():
        if method != "post" or "requestBody" not in operation:
            continue
        media = operation["requestBody"]["content"]["application/json"]
        schema = resolve(spec, media["schema"])
        if not (media.get("example") or media.get("examples") or schema.get("examples")):
            missing.append(f"POST {path}")

    assert not missing, f"request bodies without an example: {missing}"


def test_every_post_to_a_collection_takes_a_body(spec: dict[str, Any]) -> None:
    for path in ("/v1/quotes", "/v1/deliveries", "/v1/webhook-endpoints"):
        assert spec["paths"][path]["post"]["requestBody"]["required"] is True


def error_answers(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path} {status}", answer.get("content", {}))
        for (method, path), operation in operations(spec).items()
        for status, answer in operation["responses"].items()
        if status.startswith(("4", "5"))
    ]


def test_every_error_answer_references_the_problem_schema(spec: dict[str, Any]) -> None:
    wrong = []
    for name, content in error_answers(spec):
        refs = {media.get("schema", {}).get("$ref") for media in content.values()} - {None}
        if refs != {PROBLEM_REF}:
            wrong.append(f"{name}: {content}")

    assert not wrong, "\n".join(wrong)


def test_the_problem_schema_is_documented_under_the_media_type_errors_are_sent_in(
    spec: dict[str, Any],
) -> None:
    wrong = [
        f"{name}: {content}"
        for name, content in error_answers(spec)
        if content.get("application/problem+json", {}).get("schema", {}).get("$ref") != PROBLEM_REF
    ]

    assert not wrong, "\n".join(wrong)


def test_every_merchant_route_documents_the_auth_and_size_errors(spec: dict[str, Any]) -> None:
    for (_method, path), operation in operations(spec).items():
        if path.startswith("/v1/"):
            assert {"401", "413"} <= set(operation["responses"]), path


def test_the_merchant_routes_declare_bearer_auth(spec: dict[str, Any]) -> None:
    schemes = spec["components"]["securitySchemes"]
    for (_method, path), operation in operations(spec).items():
        if path.startswith("/v1/"):
            (requirement,) = operation["security"]
            (name,) = requirement
            assert schemes[name] == {**schemes[name], "type": "http", "scheme": "bearer"}


def test_ordering_documents_the_idempotency_key(spec: dict[str, Any]) -> None:
    parameters = spec["paths"]["/v1/deliveries"]["post"]["parameters"]

    (key,) = [p for p in parameters if p["name"] == "Idempotency-Key"]
    assert key["in"] == "header"
    assert key["description"]


def test_the_problem_schema_has_a_code(spec: dict[str, Any]) -> None:
    problem = spec["components"]["schemas"]["Problem"]

    assert {"type", "title", "status", "detail", "code"} <= set(problem["required"])


def test_the_process_reports_it_is_alive(client: TestClient) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_the_process_reports_it_is_ready_once_the_database_is_migrated(
    client: TestClient,
) -> None:
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


def test_an_unknown_route_is_a_problem_too(client: TestClient) -> None:
    response = client.get("/v1/nowhere")

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "not_found"


def test_a_wrong_method_is_a_problem_too(client: TestClient) -> None:
    response = client.delete("/v1/quotes")

    assert response.status_code == 405
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "method_not_allowed"
