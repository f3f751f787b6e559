"""Ordering a delivery from a quote, and reading it back."""

from datetime import timedelta

from fastapi.testclient import TestClient

from sidewalk.bootstrap import Platform
from sidewalk.kernel.clock import ManualClock
from tests.factories import DOWNTOWN, MerchantClient, make_merchant
from tests.integration.helpers import SOUTH_PARK, UNKNOWN_QUOTE_ID, at, problem, row_counts

CUSTOMER = {"name": "Ana Ruiz", "phone": "+13105550100"}
INSTRUCTIONS = "Ring twice; leave with the concierge."


def test_an_ordered_delivery_is_pending_with_one_requested_robot_attempt(
    merchant: MerchantClient, platform: Platform
) -> None:
    quote = merchant.quote()

    response = merchant.order(quote["id"], customer=CUSTOMER, dropoff_instructions=INSTRUCTIONS)

    assert response.status_code == 201, response.text
    assert "Idempotent-Replayed" not in response.headers
    delivery = response.json()
    now = platform.clock.now()
    assert delivery["id"].startswith("dlv_")
    assert delivery["status"] == "pending"
    assert delivery["quote_id"] == quote["id"]
    assert delivery["merchant_id"] == merchant.merchant_id
    assert delivery["provider"] == "robot"
    (attempt,) = delivery["attempts"]
    assert attempt["provider"] == "robot"
    assert attempt["status"] == "requested"
    assert attempt["sequence"] == 1
    assert at(attempt["status_times"]["requested"]) == now
    assert delivery["latest_attempt_id"] == attempt["id"]
    assert at(delivery["status_times"]["pending"]) == now
    assert delivery["customer"] == CUSTOMER
    assert delivery["dropoff_instructions"] == INSTRUCTIONS
    assert delivery["external_reference_id"] == quote["external_reference_id"]
    assert delivery["fee"] == quote["fee"]
    assert delivery["pickup"] == quote["pickup"]
    assert delivery["dropoff"] == quote["dropoff"]
    assert delivery["pickup_eta"] == quote["pickup_eta"]
    assert delivery["dropoff_eta"] == quote["dropoff_eta"]
    assert delivery["partner_id"] is None
    assert delivery["cancel_reason"] is None
    assert delivery["failure_reason"] is None


def test_a_delivery_has_a_tracking_url_of_its_own(
    merchant: MerchantClient, platform: Platform
) -> None:
    first, second = merchant.delivery(), merchant.delivery()

    base = platform.settings.public_base_url.rstrip("/") + "/track/"
    assert first["tracking_url"].startswith(base)
    assert len(first["tracking_url"]) > len(base)
    assert first["tracking_url"] != second["tracking_url"]


def test_a_delivery_without_customer_or_instructions_says_so(merchant: MerchantClient) -> None:
    delivery = merchant.delivery()

    assert delivery["customer"] is None
    assert delivery["dropoff_instructions"] is None


def test_a_delivery_reads_back_as_it_was_created(
    merchant: MerchantClient, clock: ManualClock
) -> None:
    """The order's answer is rendered from the records being written, a read from the rows
    stored: both say the same, whatever the order carries."""
    plain = merchant.delivery()

    def later(hours: float) -> str:
        return (clock.now() + timedelta(hours=hours)).isoformat()

    window = {"start_at": later(5), "end_at": later(5.5)}
    scheduled = merchant.quote(pickup_ready_at=later(3), dropoff_window=window)
    full = merchant.delivery(
        quote_id=scheduled["id"],
        customer=CUSTOMER,
        dropoff_instructions=INSTRUCTIONS,
        undeliverable_action="leave_at_door",
    )

    for delivery in (plain, full):
        response = merchant.get(f"/v1/deliveries/{delivery['id']}")
        assert response.status_code == 200
        assert response.json() == delivery
    assert full["dropoff_window"] is not None
    assert full["undeliverable_action"] == "leave_at_door"


def test_an_ordered_quote_names_its_delivery(merchant: MerchantClient) -> None:
    quote = merchant.quote()
    delivery = merchant.delivery(quote_id=quote["id"])

    assert (
        merchant.get(f"/v1/quotes/{quote['id']}").json()["used_by_delivery_id"] == (delivery["id"])
    )


def test_the_merchants_partner_id_is_carried_on_the_delivery(
    platform: Platform, client: TestClient
) -> None:
    market = make_merchant(platform, client, "Market", partner_id="market-1")

    delivery = market.delivery()

    assert delivery["partner_id"] == "market-1"
    assert market.get(f"/v1/deliveries/{delivery['id']}").json()["partner_id"] == "market-1"


def test_a_courier_quote_orders_a_courier_attempt(merchant: MerchantClient) -> None:
    quote = merchant.quote(pickup=DOWNTOWN, dropoff=SOUTH_PARK)

    delivery = merchant.delivery(quote_id=quote["id"])

    assert delivery["provider"] == "courier"
    assert [a["provider"] for a in delivery["attempts"]] == ["courier"]


def test_an_expired_quote_cannot_be_ordered(
    merchant: MerchantClient, clock: ManualClock, platform: Platform
) -> None:
    quote = merchant.quote()
    clock.advance(timedelta(seconds=301))
    assert clock.now() > at(quote["expires_at"])
    before = row_counts(platform)

    problem(merchant.order(quote["id"]), 410, "quote_expired")

    assert row_counts(platform) == before
    assert merchant.get(f"/v1/quotes/{quote['id']}").json()["used_by_delivery_id"] is None


def test_a_quote_expires_at_its_expiry_time_exactly(
    merchant: MerchantClient, clock: ManualClock
) -> None:
    quote = merchant.quote()
    clock.set(at(quote["expires_at"]))

    problem(merchant.order(quote["id"]), 410, "quote_expired")


def test_a_quote_can_be_ordered_until_just_before_it_expires(
    merchant: MerchantClient, clock: ManualClock
) -> None:
    quote = merchant.quote()
    clock.set(at(quote["expires_at"]) - timedelta(seconds=1))

    assert merchant.order(quote["id"]).status_code == 201


def test_a_quote_buys_only_one_delivery(merchant: MerchantClient, platform: Platform) -> None:
    quote = merchant.quote()
    first = merchant.delivery(quote_id=quote["id"])
    before = row_counts(platform)

    body = problem(merchant.order(quote["id"]), 409, "quote_already_used")

    assert body["delivery_id"] == first["id"]
    assert row_counts(platform) == before


def test_a_used_quote_is_refused_even_after_it_expired(
    merchant: MerchantClient, clock: ManualClock
) -> None:
    quote = merchant.quote()
    merchant.delivery(quote_id=quote["id"])
    clock.advance(timedelta(hours=1))

    problem(merchant.order(quote["id"]), 409, "quote_already_used")


def test_an_unknown_quote_cannot_be_ordered(merchant: MerchantClient, platform: Platform) -> None:
    before = row_counts(platform)

    problem(merchant.order(UNKNOWN_QUOTE_ID), 404, "quote_not_found")

    assert row_counts(platform) == before


def test_an_unknown_delivery_is_not_found(merchant: MerchantClient) -> None:
    problem(merchant.get("/v1/deliveries/dlv_unknown"), 404, "delivery_not_found")
