"""`Idempotency-Key` on POST /v1/deliveries: a retried order is answered, not repeated."""

import json
from datetime import timedelta

import httpx

from sidewalk.bootstrap import Platform
from sidewalk.kernel.clock import ManualClock
from tests.factories import MerchantClient
from tests.integration.helpers import field_paths, post_in_parallel, problem, row_counts

CUSTOMER = {"name": "Ana Ruiz", "phone": "+13105550100"}


def deliveries_of(merchant: MerchantClient) -> list[str]:
    page = merchant.get("/v1/deliveries", limit=100).json()
    return [d["id"] for d in page["data"]]


def test_the_same_key_and_body_replay_the_first_answer(merchant: MerchantClient) -> None:
    quote_id = merchant.quote()["id"]

    first = merchant.order(quote_id, key="order-1042", customer=CUSTOMER)
    again = merchant.order(quote_id, key="order-1042", customer=CUSTOMER)

    assert first.status_code == again.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert deliveries_of(merchant) == [first.json()["id"]]


def test_the_same_body_spelled_differently_is_the_same_request(merchant: MerchantClient) -> None:
    quote_id = merchant.quote()["id"]
    first = merchant.order(quote_id, key="k-1", customer=CUSTOMER)
    respelled = json.dumps({"customer": dict(reversed(CUSTOMER.items())), "quote_id": quote_id})

    again = merchant.http.post(
        "/v1/deliveries",
        content=f"  {respelled}\n",
        headers={**merchant.auth, "Idempotency-Key": "k-1", "Content-Type": "application/json"},
    )

    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()


def test_the_same_key_with_another_body_is_refused(
    merchant: MerchantClient, platform: Platform
) -> None:
    quote_id = merchant.quote()["id"]
    first = merchant.order(quote_id, key="order-1042")
    before = row_counts(platform)

    different = merchant.order(quote_id, key="order-1042", dropoff_instructions="Leave at door")
    other_quote = merchant.order(merchant.quote()["id"], key="order-1042")

    problem(different, 422, "idempotency_key_reused")
    problem(other_quote, 422, "idempotency_key_reused")
    assert row_counts(platform)["deliveries"] == before["deliveries"]
    assert deliveries_of(merchant) == [first.json()["id"]]


def test_a_key_belongs_to_its_merchant(merchant: MerchantClient, rival: MerchantClient) -> None:
    mine = merchant.order(merchant.quote()["id"], key="order-1042")

    theirs = rival.order(rival.quote()["id"], key="order-1042")

    assert mine.status_code == theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs.headers
    assert theirs.json()["id"] != mine.json()["id"]
    assert theirs.json()["merchant_id"] == rival.merchant_id
    assert deliveries_of(rival) == [theirs.json()["id"]]
    assert deliveries_of(merchant) == [mine.json()["id"]]


def test_another_merchant_cannot_replay_a_merchants_answer(
    merchant: MerchantClient, rival: MerchantClient
) -> None:
    quote_id = merchant.quote()["id"]
    merchant.order(quote_id, key="order-1042")

    replay_attempt = rival.order(quote_id, key="order-1042")

    problem(replay_attempt, 404, "quote_not_found")
    assert "Idempotent-Replayed" not in replay_attempt.headers
    assert deliveries_of(rival) == []


def test_a_replay_23_hours_later_still_replays(
    merchant: MerchantClient, clock: ManualClock
) -> None:
    quote_id = merchant.quote()["id"]
    first = merchant.order(quote_id, key="order-1042")
    clock.advance(timedelta(hours=23))

    again = merchant.order(quote_id, key="order-1042")

    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert len(deliveries_of(merchant)) == 1


def test_a_refused_request_is_not_remembered(
    merchant: MerchantClient, clock: ManualClock, platform: Platform
) -> None:
    stale = merchant.quote()["id"]
    clock.advance(timedelta(minutes=10))
    problem(merchant.order(stale, key="order-1042"), 410, "quote_expired")
    assert row_counts(platform)["idempotency_keys"] == 0

    retried = merchant.order(merchant.quote()["id"], key="order-1042")

    assert retried.status_code == 201, retried.text
    assert "Idempotent-Replayed" not in retried.headers


def test_a_request_refused_for_an_unknown_quote_can_be_retried_with_its_key(
    merchant: MerchantClient,
) -> None:
    problem(merchant.order("quo_nope", key="k"), 404, "quote_not_found")

    assert merchant.order(merchant.quote()["id"], key="k").status_code == 201


def test_an_invalid_key_is_refused(merchant: MerchantClient, platform: Platform) -> None:
    quote_id = merchant.quote()["id"]
    before = row_counts(platform)

    for key in (b"k" * 256, "clé".encode(), b"order\t1042"):
        response = merchant.http.post(
            "/v1/deliveries",
            json={"quote_id": quote_id},
            headers={
                b"Authorization": f"Bearer {merchant.api_key}".encode(),
                b"Idempotency-Key": key,
            },
        )

        body = problem(response, 422, "validation_error")
        assert field_paths(body) == ["Idempotency-Key"], key
    assert row_counts(platform) == before


def test_a_key_of_255_printable_characters_is_accepted(merchant: MerchantClient) -> None:
    key = ("order-1042 ~!@#$%^&*()_+" * 20)[:255]
    quote_id = merchant.quote()["id"]

    assert merchant.order(quote_id, key=key).status_code == 201
    assert merchant.order(quote_id, key=key).headers["Idempotent-Replayed"] == "true"


def test_concurrent_retries_with_one_key_make_one_delivery(
    merchant: MerchantClient, live_url: str, live_client: httpx.Client
) -> None:
    body = {"quote_id": merchant.quote()["id"], "customer": CUSTOMER}
    headers = {**merchant.auth, "Idempotency-Key": "order-1042"}

    answers = post_in_parallel(live_url, "/v1/deliveries", [(headers, body)] * 20)

    assert [a.status_code for a in answers] == [201] * 20, [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    assert sum("Idempotent-Replayed" not in a.headers for a in answers) == 1
    listed = live_client.get("/v1/deliveries", headers=merchant.auth).json()["data"]
    assert [d["id"] for d in listed] == [answers[0].json()["id"]]


def test_concurrent_orders_of_one_quote_with_different_keys_make_one_delivery(
    merchant: MerchantClient, live_url: str, live_client: httpx.Client
) -> None:
    body = {"quote_id": merchant.quote()["id"]}
    requests = [({**merchant.auth, "Idempotency-Key": f"try-{i}"}, body) for i in range(20)]

    answers = post_in_parallel(live_url, "/v1/deliveries", requests)

    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201] + [409] * 19, [a.text for a in answers]
    (made,) = [a.json() for a in answers if a.status_code == 201]
    for refused in (a for a in answers if a.status_code == 409):
        assert refused.json()["code"] == "quote_already_used"
    listed = live_client.get("/v1/deliveries", headers=merchant.auth).json()["data"]
    assert [d["id"] for d in listed] == [made["id"]]


def test_concurrent_requests_with_one_key_and_different_bodies_make_one_delivery(
    merchant: MerchantClient, live_url: str, live_client: httpx.Client
) -> None:
    quote_id = merchant.quote()["id"]
    headers = {**merchant.auth, "Idempotency-Key": "order-1042"}
    bodies = [{"quote_id": quote_id, "dropoff_instructions": f"door {i}"} for i in range(10)]

    answers = post_in_parallel(live_url, "/v1/deliveries", [(headers, b) for b in bodies])

    assert sorted(a.status_code for a in answers) == [201] + [422] * 9, [a.text for a in answers]
    for refused in (a for a in answers if a.status_code == 422):
        assert refused.json()["code"] == "idempotency_key_reused"
    listed = live_client.get("/v1/deliveries", headers=merchant.auth).json()["data"]
    assert len(listed) == 1
