"""Listing deliveries: filters, and cursor paging, newest first."""

import base64
import json
from datetime import timedelta
from typing import Any

from sidewalk.bootstrap import Platform
from sidewalk.kernel.clock import ManualClock
from tests.factories import MerchantClient
from tests.integration.helpers import cancelled, field_paths, problem


def cursor_for(*value: Any) -> str:
    """A cursor as the API encodes them (base64 of a JSON array), holding anything."""
    return base64.urlsafe_b64encode(json.dumps(list(value)).encode()).decode().rstrip("=")


def ids(page: dict[str, Any]) -> list[str]:
    return [d["id"] for d in page["data"]]


def listed(merchant: MerchantClient, **params: Any) -> list[str]:
    response = merchant.get("/v1/deliveries", **params)
    assert response.status_code == 200, response.text
    return ids(response.json())


def made_one_second_apart(
    merchant: MerchantClient, clock: ManualClock, count: int
) -> list[dict[str, Any]]:
    made = []
    for _ in range(count):
        made.append(merchant.delivery())
        clock.advance(timedelta(seconds=1))
    return made


def test_deliveries_are_listed_newest_first(merchant: MerchantClient, clock: ManualClock) -> None:
    made = made_one_second_apart(merchant, clock, 3)

    page = merchant.get("/v1/deliveries").json()

    assert ids(page) == [d["id"] for d in reversed(made)]
    assert page["has_more"] is False
    assert page["next_cursor"] is None
    assert page["data"][0] == merchant.get(f"/v1/deliveries/{made[-1]['id']}").json()


def test_an_empty_list_is_a_page_without_more(merchant: MerchantClient) -> None:
    assert merchant.get("/v1/deliveries").json() == {
        "data": [],
        "has_more": False,
        "next_cursor": None,
    }


def test_deliveries_can_be_filtered_by_one_or_more_statuses(
    platform: Platform, merchant: MerchantClient
) -> None:
    first, second, third = merchant.delivery(), merchant.delivery(), merchant.delivery()
    assert cancelled(platform, merchant, second["id"])["status"] == "cancelled"

    assert listed(merchant, status="cancelled") == [second["id"]]
    assert sorted(listed(merchant, status="pending")) == sorted([first["id"], third["id"]])
    assert sorted(listed(merchant, status=["pending", "cancelled"])) == sorted(
        [first["id"], second["id"], third["id"]]
    )
    assert listed(merchant, status="delivered") == []


def test_an_unknown_status_filter_is_refused(merchant: MerchantClient) -> None:
    body = problem(merchant.get("/v1/deliveries", status="lost"), 422, "validation_error")

    assert any(path.startswith("query.status") for path in field_paths(body))


def test_deliveries_can_be_filtered_by_external_reference(merchant: MerchantClient) -> None:
    mine = merchant.delivery(quote_id=merchant.quote(external_reference_id="order-7")["id"])
    merchant.delivery(quote_id=merchant.quote(external_reference_id="order-8")["id"])
    merchant.delivery(quote_id=merchant.quote(external_reference_id=None)["id"])

    assert listed(merchant, external_reference_id="order-7") == [mine["id"]]
    assert listed(merchant, external_reference_id="order-9") == []


def test_deliveries_can_be_filtered_by_creation_time(
    merchant: MerchantClient, clock: ManualClock
) -> None:
    start = clock.now()
    early = merchant.delivery()
    clock.advance(timedelta(minutes=1))
    middle = merchant.delivery()
    clock.advance(timedelta(minutes=1))
    late = merchant.delivery()
    one_minute, two_minutes = start + timedelta(minutes=1), start + timedelta(minutes=2)

    from_middle = listed(merchant, created_from=one_minute.isoformat())
    before_late = listed(merchant, created_to=two_minutes.isoformat())
    only_middle = listed(
        merchant, created_from=one_minute.isoformat(), created_to=two_minutes.isoformat()
    )

    assert from_middle == [late["id"], middle["id"]]  # `created_from` is inclusive
    assert before_late == [middle["id"], early["id"]]  # `created_to` is exclusive
    assert only_middle == [middle["id"]]


def test_creation_times_may_be_given_in_any_time_zone(
    merchant: MerchantClient, clock: ManualClock
) -> None:
    merchant.delivery()  # at 12:00 UTC
    clock.advance(timedelta(minutes=1))
    later = merchant.delivery()  # at 12:01 UTC

    # 14:01 at UTC+2 is 12:01 UTC; 04:00:30 at UTC-8 is 12:00:30 UTC.
    assert listed(merchant, created_from="2026-01-05T14:01:00+02:00") == [later["id"]]
    assert listed(merchant, created_from="2026-01-05T04:00:30-08:00") == [later["id"]]
    assert listed(merchant, created_from="2026-01-05T12:01:00Z") == [later["id"]]


def test_times_without_a_time_zone_are_refused(merchant: MerchantClient) -> None:
    for name in ("created_from", "created_to"):
        response = merchant.get("/v1/deliveries", **{name: "2026-01-05T12:00:00"})

        assert field_paths(problem(response, 422, "validation_error")) == [name]


def test_a_time_that_is_not_a_time_is_refused(merchant: MerchantClient) -> None:
    problem(merchant.get("/v1/deliveries", created_from="yesterday"), 422, "validation_error")


def test_a_date_at_the_edge_of_the_calendar_is_not_a_server_error(
    merchant: MerchantClient,
) -> None:
    merchant.delivery()
    failures = []
    for params in (
        {"created_from": "9999-12-31T23:59:59-14:00"},
        {"created_to": "0001-01-01T00:00:00+14:00"},
        {"cursor": cursor_for("9999-12-31T23:59:59-14:00", "dlv_x")},
    ):
        try:
            response = merchant.get("/v1/deliveries", **params)
        except Exception as e:  # the test client re-raises what the server answered 500 to
            failures.append(f"{params}: server error {e!r}"[:300])
            continue
        if response.status_code not in {200, 422}:
            failures.append(f"{params}: {response.status_code} {response.text[:200]}")

    assert not failures, "\n".join(failures)


def test_paging_returns_each_delivery_once_newest_first(
    merchant: MerchantClient, clock: ManualClock
) -> None:
    made = made_one_second_apart(merchant, clock, 5)

    pages = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = merchant.get("/v1/deliveries", **params).json()
        pages.append(ids(page))
        if not page["has_more"]:
            assert page["next_cursor"] is None
            break
        cursor = page["next_cursor"]
        assert cursor

    assert [len(p) for p in pages] == [2, 2, 1]
    assert [i for chunk in pages for i in chunk] == [d["id"] for d in reversed(made)]


def test_paging_returns_each_delivery_once_when_they_share_a_timestamp(
    merchant: MerchantClient,
) -> None:
    made = {merchant.delivery()["id"] for _ in range(5)}  # the clock stands still

    seen: list[str] = []
    page = merchant.get("/v1/deliveries", limit=2).json()
    seen += ids(page)
    while page["has_more"]:
        page = merchant.get("/v1/deliveries", limit=2, cursor=page["next_cursor"]).json()
        seen += ids(page)

    assert sorted(seen) == sorted(made)


def test_paging_is_stable_while_new_deliveries_arrive(
    merchant: MerchantClient, clock: ManualClock
) -> None:
    made = made_one_second_apart(merchant, clock, 3)
    first = merchant.get("/v1/deliveries", limit=2).json()
    merchant.delivery()  # newer than all: it belongs before the first page

    second = merchant.get("/v1/deliveries", limit=2, cursor=first["next_cursor"]).json()

    assert ids(first) == [made[2]["id"], made[1]["id"]]
    assert ids(second) == [made[0]["id"]]
    assert second["has_more"] is False


def test_paging_keeps_the_filters(
    platform: Platform, merchant: MerchantClient, clock: ManualClock
) -> None:
    made = made_one_second_apart(merchant, clock, 4)
    for delivery in made[1:3]:
        assert cancelled(platform, merchant, delivery["id"])["status"] == "cancelled"

    first = merchant.get("/v1/deliveries", limit=1, status="cancelled").json()
    second = merchant.get(
        "/v1/deliveries", limit=1, status="cancelled", cursor=first["next_cursor"]
    ).json()

    assert ids(first) + ids(second) == [made[2]["id"], made[1]["id"]]
    assert second["has_more"] is False


def test_a_cursor_the_api_did_not_give_out_is_refused(merchant: MerchantClient) -> None:
    merchant.delivery()
    cursors = {
        "garbage": "garbage",
        "not base64": "!!!!",
        "not UTF-8": base64.urlsafe_b64encode(b"\xff\xfe\xfd").decode(),
        "numbers": cursor_for(1, 2),
        "naive time": cursor_for("2026-01-05T12:00:00", "dlv_x"),
        "one part": cursor_for("2026-01-05T12:00:00Z"),
        "three parts": cursor_for("2026-01-05T12:00:00Z", "dlv_x", 3),
        "an object": base64.urlsafe_b64encode(b'{"a": 1}').decode(),
    }
    for name, cursor in cursors.items():
        response = merchant.get("/v1/deliveries", cursor=cursor)
        assert response.status_code == 422, (name, response.text)
        problem(response, 422, "invalid_cursor")


def test_a_page_size_outside_1_to_100_is_refused(merchant: MerchantClient) -> None:
    for limit in (0, 101, -1, "ten"):
        body = problem(merchant.get("/v1/deliveries", limit=limit), 422, "validation_error")
        assert field_paths(body) == ["query.limit"], limit


def test_a_page_size_of_1_or_100_is_accepted(merchant: MerchantClient) -> None:
    merchant.delivery()

    assert len(merchant.get("/v1/deliveries", limit=1).json()["data"]) == 1
    assert merchant.get("/v1/deliveries", limit=100).status_code == 200
