"""Limits against abuse: each merchant API key and each operator token has a rate, answered
`429` with `Retry-After` beyond it (another caller is not held up); webhooks are not sent to
private, loopback or link-local addresses unless a setting allows it."""

import asyncio
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sidewalk.bootstrap import Platform
from sidewalk.deliveries.webhook_domain import is_private_address, private_host
from sidewalk.deliveries.webhook_sender import PrivateTarget, _refuse_private
from sidewalk.kernel.settings import Settings
from sidewalk.operations.domain import OperatorRole
from tests.factories import MerchantClient
from tests.fleet import Fleet


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "rate_limit_key_rps": 1,
            "rate_limit_key_burst": 3,
            "rate_limit_operator_rps": 1,
            "rate_limit_operator_burst": 2,
            "webhooks_allow_private_targets": False,
            "webhooks_in_server": False,
        }
    )


def test_a_key_over_its_rate_gets_429_with_retry_after_and_others_go_on(
    merchant: MerchantClient, rival: MerchantClient
) -> None:
    answers = [merchant.get("/v1/deliveries") for _ in range(4)]
    assert [a.status_code for a in answers[:3]] == [200, 200, 200]
    limited = answers[3]
    assert limited.status_code == 429
    assert limited.headers["content-type"].startswith("application/problem+json")
    assert limited.json()["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) >= 1
    assert rival.get("/v1/deliveries").status_code == 200  # a bucket per key


def test_a_bad_key_is_refused_before_any_rate_is_counted(
    client: TestClient, merchant: MerchantClient
) -> None:
    for _ in range(5):
        assert (
            client.get("/v1/deliveries", headers={"Authorization": "Bearer nope"}).status_code
            == 401
        )
    assert merchant.get("/v1/deliveries").status_code == 200  # fmt: skip


def test_an_operator_token_over_its_rate_gets_429(fleet: Fleet) -> None:
    supervisor = fleet.operator(OperatorRole.SUPERVISOR)
    other = fleet.operator(OperatorRole.SUPERVISOR)
    codes = [fleet.get(supervisor.token, "/ops/v1/robots").status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    assert fleet.get(other.token, "/ops/v1/robots").status_code == 200


def test_a_robot_is_not_rate_limited(fleet: Fleet) -> None:
    token = fleet.robot("SW-1")
    body = {"lat": 34.0901, "lng": -118.3617, "battery_pct": 80}
    codes = {fleet.post(token, "/ops/v1/robots/SW-1/telemetry", body).status_code for _ in range(6)}
    assert codes == {200}


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hooks",
        "http://10.1.2.3/hooks",
        "http://192.168.0.10/hooks",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hooks",
        "http://[::ffff:127.0.0.1]/hooks",
        "http://localhost:9000/hooks",
        "https://printer.local/hooks",
        "http://0.0.0.0/hooks",
    ],
)
def test_a_private_webhook_target_is_refused(merchant: MerchantClient, url: str) -> None:
    answer = merchant.post("/v1/webhook-endpoints", {"url": url, "events": ["delivery.created"]})
    assert answer.status_code == 422, answer.text
    body: dict[str, Any] = answer.json()
    assert body["code"] == "webhook_url_private"
    assert body["errors"][0]["field"] == "url"
    assert merchant.get("/v1/webhook-endpoints").json()["data"] == []  # nothing written


def test_a_public_target_is_accepted(merchant: MerchantClient) -> None:
    answer = merchant.post(
        "/v1/webhook-endpoints",
        {"url": "https://hooks.example.com/sidewalk", "events": ["delivery.created"]},
    )
    assert answer.status_code == 201, answer.text


def test_the_setting_allows_private_targets(platform: Platform, merchant: MerchantClient) -> None:
    platform.deliveries.settings.webhooks_allow_private_targets = True
    body = {"url": "http://127.0.0.1:8080/hooks", "events": ["delivery.created"]}
    answer = merchant.post("/v1/webhook-endpoints", body)
    assert answer.status_code == 201, answer.text


def test_a_name_resolving_to_a_private_address_is_not_sent_to() -> None:
    with pytest.raises(PrivateTarget, match="private address"):
        asyncio.run(_refuse_private("http://localhost:9/hooks"))
    asyncio.run(_refuse_private("http://8.8.8.8/hooks"))  # an address needs no DNS


def test_which_addresses_are_private() -> None:
    private = ["127.0.0.1", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.1.1", "::1"]
    private += ["fe80::1", "fc00::1", "100.64.0.1", "224.0.0.1", "::ffff:10.0.0.1"]
    for address in private:
        assert is_private_address(address), address
    for public in ("8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"):
        assert not is_private_address(public), public
    assert private_host("https://hooks.example.com/x") is None
