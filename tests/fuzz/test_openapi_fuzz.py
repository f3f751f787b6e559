"""Both services fuzzed from their own OpenAPI documents (schemathesis): generated requests,
authenticated as a merchant and as a supervisor, must never get a server error, and every
answer must match what the document says (status codes, content types, bodies)."""

import os
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings

from sidewalk.app import create_deliveries_app, create_operations_app
from sidewalk.bootstrap import Platform, bootstrap
from sidewalk.deliveries import merchants
from sidewalk.kernel.clock import ManualClock
from sidewalk.kernel.settings import Settings
from sidewalk.operations import operators
from sidewalk.operations.domain import OperatorRole
from tests.databases import fresh_postgres_database, postgres_or_skip, sqlite_url

pytestmark = pytest.mark.slow

# A request the document allows may still break a rule of the business (a pickup equal to its
# dropoff, a place outside every service area): those answer 422 with their own code, which
# the document lists, rather than being accepted.
BUSINESS_RULES = [schemathesis.checks.positive_data_acceptance]
# Examples an operation: 15 keeps the suite quick; SIDEWALK_FUZZ_EXAMPLES=500 digs deeper.
FUZZ = settings(
    max_examples=int(os.environ.get("SIDEWALK_FUZZ_EXAMPLES", "15")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def fuzzed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Platform, dict[str, str]]]:
    var: Path = tmp_path_factory.mktemp("fuzz")
    with ExitStack() as stack:
        if request.param == "postgresql":
            postgres_or_skip()
            url = stack.enter_context(fresh_postgres_database())
        else:
            url = sqlite_url(var)
        yield from _platform(var, url)


def _platform(var: Path, url: str) -> Iterator[tuple[Platform, dict[str, str]]]:
    platform = bootstrap(
        Settings(
            var_dir=var,
            deliveries_database_url=url,
            operations_database_url=url if url.startswith("postgresql") else "",
            rate_limit_key_rps=0,
            rate_limit_operator_rps=0,
            webhooks_in_server=False,
        ),
        clock=ManualClock(),
    )
    key = merchants.create_merchant(platform.deliveries, "Fuzz Bakery").api_key
    token = operators.create_operator(
        platform.operations, "fuzz@example.com", OperatorRole.SUPERVISOR
    ).token
    yield platform, {"merchant": key, "supervisor": token}
    platform.close()


@pytest.fixture(scope="module")
def deliveries_app(fuzzed: tuple[Platform, dict[str, str]]) -> FastAPI:
    return create_deliveries_app(fuzzed[0], own_lifecycle=False)


@pytest.fixture(scope="module")
def operations_app(fuzzed: tuple[Platform, dict[str, str]]) -> FastAPI:
    return create_operations_app(fuzzed[0], own_lifecycle=False, dispatch=False)


def _fuzz(app: FastAPI, token: str, *, skip: str | None = None) -> list[str]:
    """Every operation of the app's document, fuzzed; the operations it reached."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    if skip is not None:
        schema = schema.exclude(path_regex=skip)
    headers = {"Authorization": f"Bearer {token}"}
    reached = []
    for found in schema.get_all_operations():
        operation = found.ok()

        @given(case=operation.as_strategy())
        @FUZZ
        def calls(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=headers, excluded_checks=BUSINESS_RULES)

        calls()
        reached.append(f"{operation.method.upper()} {operation.path}")
    return reached


def test_the_merchant_api_holds_under_generated_requests(
    fuzzed: tuple[Platform, dict[str, str]],
) -> None:
    platform, tokens = fuzzed
    reached = _fuzz(create_deliveries_app(platform, own_lifecycle=False), tokens["merchant"])
    assert "POST /v1/deliveries" in reached


def test_the_ops_api_holds_under_generated_requests(
    fuzzed: tuple[Platform, dict[str, str]],
) -> None:
    platform, tokens = fuzzed
    app = create_operations_app(platform, own_lifecycle=False, dispatch=False)
    # The live board never ends: its stream has tests of its own.
    reached = _fuzz(app, tokens["supervisor"], skip=r"/live$")
    assert "POST /ops/v1/tasks/{task_id}/cancel" in reached
