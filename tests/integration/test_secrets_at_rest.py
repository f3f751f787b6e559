"""Secrets are kept as digests: no API key, operator token or robot token is anywhere in
either database (every column of every table is read), and none of them, nor a customer's
phone number, reaches the logs."""

import logging

import pytest
from sqlalchemy import Engine, MetaData, select

from sidewalk.bootstrap import Platform
from sidewalk.kernel.secrets import digest
from sidewalk.operations.domain import OperatorRole
from tests.factories import MerchantClient
from tests.fleet import Fleet

PHONE = "+13105550199"


def _everything(engine: Engine) -> str:
    """Every value of every table, as one text."""
    metadata = MetaData()
    metadata.reflect(engine)
    seen: list[str] = []
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            for row in connection.execute(select(table)):
                seen.extend(str(value) for value in row)
    return "\n".join(seen)


def test_keys_and_tokens_are_stored_as_digests_and_never_logged(
    platform: Platform, merchant: MerchantClient, fleet: Fleet, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    supervisor = fleet.operator(OperatorRole.SUPERVISOR)
    robot_token = fleet.robot("SW-1")
    delivery = merchant.delivery(customer={"name": "Ada", "phone": PHONE})
    assert merchant.get(f"/v1/deliveries/{delivery['id']}").status_code == 200
    assert fleet.get(supervisor.token, "/ops/v1/robots").status_code == 200
    platform.deliveries.audit.flush()
    platform.operations.audit.flush()

    stored = _everything(platform.deliveries_engine) + _everything(platform.operations_engine)
    for secret in (merchant.api_key, supervisor.token, robot_token):
        assert secret not in stored
        assert digest(secret) in stored  # kept, as its digest
    logged = caplog.text
    for secret in (merchant.api_key, supervisor.token, robot_token, PHONE):
        assert secret not in logged
