"""The DoorDash Drive and Uber Direct adapters against local servers that speak their
documented APIs (`tests.courier_networks`): for each network a full courier attempt (quote,
create, status webhooks in, delivered with the courier's proof), a cancellation, a merchant's
change passed on, a retried create giving the one job, and forged webhooks refused."""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from sidewalk.bootstrap import Platform, bootstrap
from sidewalk.deliveries.domain import CourierStatus
from sidewalk.deliveries.providers.courier import CourierPlace, CourierRequest
from sidewalk.kernel.clock import ManualClock
from sidewalk.kernel.settings import Settings
from tests.courier_networks import DoorDash, Uber
from tests.factories import DOWNTOWN, MerchantClient
from tests.integration.helpers import SOUTH_PARK
from tests.integration.test_couriers import CUSTOMER, job_of, running, seen
from tests.integration.test_events_runtime import eventually
from tests.serving import serving

CONTACT_PHONE = "+13105550199"


@dataclass
class Network:
    """One network's stand-in, served, and how the platform is set up for it and hears it."""

    kind: str
    fake: DoorDash | Uber
    url: str

    def settings(self) -> dict[str, Any]:
        common = {"courier_provider": self.kind, "courier_contact_phone": CONTACT_PHONE}
        if isinstance(self.fake, DoorDash):
            return common | {
                "doordash_base_url": self.url,
                "doordash_developer_id": self.fake.developer_id,
                "doordash_key_id": self.fake.key_id,
                "doordash_signing_secret": self.fake.signing_secret,
                "doordash_webhook_authorization": self.fake.webhook_authorization,
            }
        return common | {
            "uber_base_url": self.url,
            "uber_token_url": f"{self.url}/oauth/v2/token",
            "uber_customer_id": self.fake.customer_id,
            "uber_client_id": self.fake.client_id,
            "uber_client_secret": self.fake.client_secret,
            "uber_webhook_signing_key": self.fake.signing_key,
        }

    def push(self, client: TestClient, job_id: str, status: str, **fields: Any) -> httpx.Response:
        """Move the job on at the network and post the webhook it sends to the platform."""
        if isinstance(self.fake, DoorDash):
            payload = self.fake.advance(job_id, status, **fields)
            headers = {"Authorization": self.fake.webhook_authorization}
            return client.post("/couriers/doordash/webhooks", json=payload, headers=headers)
        body, signature = self.fake.advance(job_id, status, **fields)
        return client.post(
            "/couriers/uber/webhooks", content=body, headers={"x-uber-signature": signature}
        )

    def job_status(self, job_id: str) -> str:
        found = self.fake.deliveries[job_id]
        return str(found.get("delivery_status") or found.get("status"))


@pytest.fixture(params=["doordash", "uber"])
def network(request: pytest.FixtureRequest) -> Iterator[Network]:
    fake: DoorDash | Uber = DoorDash() if request.param == "doordash" else Uber()
    with serving(fake.app()) as url:
        yield Network(request.param, fake, url)


@pytest.fixture
def settings(settings: Settings, network: Network) -> Settings:
    return Settings.model_validate(settings.model_dump() | network.settings())


# Each network's way to the door, with what its webhooks carry on the way.
JOURNEYS: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "doordash": [
        ("confirmed", {"dasher_name": "John D."}),
        ("enroute_to_pickup", {"dasher_location": {"lat": 34.0530, "lng": -118.2440}}),
        ("arrived_at_pickup", {}),
        ("picked_up", {}),
        ("enroute_to_dropoff", {"dasher_location": {"lat": 34.0450, "lng": -118.2550}}),
        ("arrived_at_dropoff", {}),
        ("delivered", {"dropoff_verification_image_url": "https://doordash.example/pod/1.jpg"}),
    ],
    "uber": [
        ("pickup", {"courier_at": (34.0530, -118.2440)}),
        ("pickup_complete", {}),
        ("dropoff", {"courier_at": (34.0450, -118.2550)}),
        (
            "delivered",
            {"dropoff": {"verification": {"picture": {"image_url": "https://uber.example/p.jpg"}}}},
        ),
    ],
}
AFTER = {
    "confirmed": "assigned",
    "enroute_to_pickup": "enroute_to_pickup",
    "arrived_at_pickup": "at_pickup",
    "picked_up": "enroute_to_dropoff",
    "enroute_to_dropoff": "enroute_to_dropoff",
    "arrived_at_dropoff": "at_dropoff",
    "delivered": "delivered",
    "pickup": "enroute_to_pickup",
    "pickup_complete": "enroute_to_dropoff",
    "dropoff": "enroute_to_dropoff",
}


def order(merchant: MerchantClient, **extra: Any) -> dict[str, Any]:
    quote = merchant.quote(pickup=DOWNTOWN, dropoff=SOUTH_PARK)
    assert quote["provider"] == "courier"
    return merchant.delivery(quote_id=quote["id"], customer=CUSTOMER, **extra)


def test_a_courier_attempt_goes_from_quote_to_delivered_by_the_networks_webhooks(
    platform: Platform, client: TestClient, merchant: MerchantClient, network: Network
) -> None:
    with running(platform):
        delivery = order(merchant, dropoff_instructions="Ring twice")
        job = job_of(merchant, delivery)
        attempt_id = delivery["latest_attempt_id"]
        for status, fields in JOURNEYS[network.kind]:
            answer = network.push(client, job, status, **fields)
            assert answer.status_code == 200, answer.text
            assert answer.json() == {"accepted": True}
            assert seen(merchant, delivery)["status"] == AFTER[status], status
    done = seen(merchant, delivery)
    assert [(a["provider"], a["status"], a["provider_id"]) for a in done["attempts"]] == [
        ("courier", "succeeded", job)
    ]
    assert done["handover"]["by"] == "courier"
    assert done["handover"]["proof"] == "photo"
    assert done["handover"]["proof_url"].startswith("https://")
    assert (done["courier_location"]["lat"], done["courier_location"]["lng"]) == (
        34.0450,
        -118.2550,
    )
    created = [body for method, path, body in network.fake.calls if method == "POST" and body]
    if isinstance(network.fake, DoorDash):
        assert job == attempt_id  # DoorDash keys the job on our id
        quoted = created[0]
        assert quoted["external_delivery_id"] == attempt_id
        assert quoted["dropoff_phone_number"] == CUSTOMER["phone"]
        assert quoted["dropoff_instructions"] == "Ring twice"
        assert quoted["action_if_undeliverable"] == "return_to_pickup"
        assert (
            quoted["dropoff_pin_code_verification_metadata"]["pin_code_value"]
            == (delivery["unlock_pin"])
        )
        assert ("POST", f"/drive/v2/quotes/{job}/accept", None) in network.fake.calls
    else:
        made = next(b for b in created if "idempotency_key" in b)
        assert (made["idempotency_key"], made["external_id"]) == (attempt_id, attempt_id)
        assert made["undeliverable_action"] == "return"
        assert made["dropoff_notes"] == "Ring twice"
        assert made["dropoff_verification"] == {"pincode": {"enabled": True}}


def test_a_merchants_cancel_cancels_the_networks_job(
    platform: Platform, client: TestClient, merchant: MerchantClient, network: Network
) -> None:
    with running(platform):
        delivery = order(merchant)
        job = job_of(merchant, delivery)
        answer = merchant.post(f"/v1/deliveries/{delivery['id']}/cancel", {"reason": "closed"})
        assert answer.status_code == 200, answer.text
        eventually(
            lambda: network.job_status(job) in ("cancelled", "canceled"),
            "the network's job was cancelled",
        )
        # The network confirms with its own webhook; the delivery stays cancelled.
        status = "cancelled" if network.kind == "doordash" else "canceled"
        assert network.push(client, job, status).status_code == 200
    done = seen(merchant, delivery)
    assert done["status"] == "cancelled"
    assert done["attempts"][0]["status"] == "cancelled"


def test_a_merchants_change_reaches_the_networks_job(
    platform: Platform, client: TestClient, merchant: MerchantClient, network: Network
) -> None:
    with running(platform):
        delivery = order(merchant)
        job = job_of(merchant, delivery)
        changed = merchant.http.patch(
            f"/v1/deliveries/{delivery['id']}",
            json={"dropoff_instructions": "Side gate, code 4410"},
            headers=merchant.auth,
        )
        assert changed.status_code == 200, changed.text

        def passed_on() -> bool:
            found = network.fake.deliveries[job]
            notes = found.get("dropoff_instructions") or found.get("dropoff", {}).get("notes")
            return bool(notes == "Side gate, code 4410")

        eventually(passed_on, "the change reached the network")


def test_creating_twice_gives_the_one_job(
    platform: Platform, clock: ManualClock, network: Network
) -> None:
    assert platform.couriers is not None
    request = CourierRequest(
        external_id="att_retried",
        pickup=CourierPlace(DOWNTOWN["lat"], DOWNTOWN["lng"], DOWNTOWN["full_address"]),
        dropoff=CourierPlace(SOUTH_PARK["lat"], SOUTH_PARK["lng"], SOUTH_PARK["full_address"]),
        dropoff_phone="+13105550100",
    )
    quote = platform.couriers.quote(request)
    assert quote.fee.amount_cents > 0
    first = platform.couriers.create(request)
    again = platform.couriers.create(request)
    assert again.id == first.id
    assert again.status is CourierStatus.CREATED
    assert len(network.fake.deliveries) == 1
    assert platform.couriers.get(first.id).external_id in ("att_retried", "")


def test_forged_webhooks_are_refused_and_change_nothing(
    platform: Platform, client: TestClient, merchant: MerchantClient, network: Network
) -> None:
    with running(platform):
        delivery = order(merchant)
        job = job_of(merchant, delivery)
    path = f"/couriers/{network.kind}/webhooks"
    if isinstance(network.fake, DoorDash):
        payload = network.fake.advance(job, "delivered")
        for headers in ({}, {"Authorization": "Bearer guessed"}):
            refused = client.post(path, json=payload, headers=headers)
            assert (refused.status_code, refused.json()["code"]) == (401, "invalid_webhook_auth")
    else:
        body, signature = network.fake.advance(job, "delivered")
        forged = body.replace(b'"delivered"', b'"delivered" ')
        for content, headers in (
            (body, {}),
            (body, {"x-uber-signature": "0" * 64}),
            (forged, {"x-uber-signature": signature}),  # signed, then changed
        ):
            refused = client.post(path, content=content, headers=headers)
            assert (refused.status_code, refused.json()["code"]) == (401, "invalid_signature")
    assert seen(merchant, delivery)["status"] == "pending"
    other = "uber" if network.kind == "doordash" else "doordash"
    elsewhere = client.post(f"/couriers/{other}/webhooks", json={})
    assert (elsewhere.status_code, elsewhere.json()["code"]) == (
        404,
        "courier_network_not_configured",
    )


def test_a_platform_without_a_networks_credentials_does_not_start(network: Network) -> None:
    partial = {k: v for k, v in network.settings().items() if not k.endswith("_id")}
    with pytest.raises(ValueError, match="needs SIDEWALK_"):
        bootstrap(Settings(**partial, deliveries_database_url="sqlite://"), migrate=False)
