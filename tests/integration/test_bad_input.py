"""Whatever a client sends, the answer is a 4xx problem with a stable code (never a 500), the
offending fields are named, and nothing is written.

The tables run case after case on one database (a fresh database per case would make them
slow) and report every case that misbehaves at once."""

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sidewalk.bootstrap import Platform
from tests.factories import MAIN_ST, SUNSET, MerchantClient, quote_body
from tests.integration.helpers import PROBLEM_JSON, field_paths, problem, row_counts

QUOTE_ID = "QUOTE_ID"  # stands for a real quote id of the merchant in the bodies below
DELIVERY_ID = "DELIVERY_ID"  # likewise, a real delivery of the merchant


@dataclass(frozen=True)
class Case:
    name: str
    body: Any = None  # a JSON value, sent as JSON ...
    raw: bytes | None = None  # ... or these bytes, sent as they are
    status: int = 422
    code: str = "validation_error"
    field: str | None = None  # a field the problem must name in `errors`


def loc(**overrides: Any) -> dict[str, Any]:
    return {**SUNSET, **overrides}


def without(body: dict[str, Any], *path: str) -> dict[str, Any]:
    """A copy of `body` with the field at `path` left out."""
    copy = json.loads(json.dumps(body))
    inner = copy
    for part in path[:-1]:
        inner = inner[part]
    del inner[path[-1]]
    result: dict[str, Any] = copy
    return result


VALID_QUOTE = quote_body()
VALID_QUOTE_RAW = json.dumps(VALID_QUOTE)

QUOTE_CASES = [
    Case("lat 999", quote_body(pickup=loc(lat=999)), field="pickup.lat"),
    Case("lat -90.0001", quote_body(pickup=loc(lat=-90.0001)), field="pickup.lat"),
    Case("lng -181", quote_body(dropoff={**MAIN_ST, "lng": -181}), field="dropoff.lng"),
    Case("lng 180.5", quote_body(pickup=loc(lng=180.5)), field="pickup.lng"),
    Case('lat "NaN" (a string)', quote_body(pickup=loc(lat="NaN")), field="pickup.lat"),
    Case('lng "Infinity" (a string)', quote_body(pickup=loc(lng="Infinity")), field="pickup.lng"),
    Case(
        "lat NaN (the bare token Python's JSON reader accepts)",
        raw=VALID_QUOTE_RAW.replace("34.0901", "NaN").encode(),
        field="pickup.lat",
    ),
    Case(
        "lng -Infinity (bare token)",
        raw=VALID_QUOTE_RAW.replace("-118.3617", "-Infinity").encode(),
        field="pickup.lng",
    ),
    Case(
        "lat 1e999 (overflows to infinity)",
        raw=VALID_QUOTE_RAW.replace("34.0901", "1e999").encode(),
        field="pickup.lat",
    ),
    Case(
        "lat as a 400-digit integer",
        raw=VALID_QUOTE_RAW.replace("34.0901", "1" + "0" * 400).encode(),
        field="pickup.lat",
    ),
    Case('lat "34.1" (a string)', quote_body(pickup=loc(lat="34.1")), field="pickup.lat"),
    Case("lat true", quote_body(pickup=loc(lat=True)), field="pickup.lat"),
    Case("lat null", quote_body(pickup=loc(lat=None)), field="pickup.lat"),
    Case("pickup missing", without(VALID_QUOTE, "pickup"), field="pickup"),
    Case("dropoff.lat missing", without(VALID_QUOTE, "dropoff", "lat"), field="dropoff.lat"),
    Case(
        "pickup.full_address missing",
        without(VALID_QUOTE, "pickup", "full_address"),
        field="pickup.full_address",
    ),
    Case("pickup a string", quote_body(pickup="8500 Sunset Blvd"), field="pickup"),
    Case("order_value_cents 1.5", quote_body(order_value_cents=1.5), field="order_value_cents"),
    Case(
        'order_value_cents "2350"', quote_body(order_value_cents="2350"), field="order_value_cents"
    ),
    Case("order_value_cents -1", quote_body(order_value_cents=-1), field="order_value_cents"),
    Case(
        "order_value_cents 10**20", quote_body(order_value_cents=10**20), field="order_value_cents"
    ),
    Case("unknown field", quote_body(tip_cents=100), field="tip_cents"),
    Case("unknown nested field", quote_body(pickup=loc(floor=3)), field="pickup.floor"),
    Case("empty address", quote_body(pickup=loc(full_address="")), field="pickup.full_address"),
    Case(
        "address of 10,000 characters",
        quote_body(dropoff={**MAIN_ST, "full_address": "x" * 10_000}),
        field="dropoff.full_address",
    ),
    Case("address a number", quote_body(pickup=loc(full_address=42)), field="pickup.full_address"),
    Case(
        "null byte in external_reference_id",
        quote_body(external_reference_id="order\x001042"),
        field="external_reference_id",
    ),
    Case(
        "newline in external_reference_id",
        quote_body(external_reference_id="order\n1042"),
        field="external_reference_id",
    ),
    Case(
        "external_reference_id of 201 characters",
        quote_body(external_reference_id="r" * 201),
        field="external_reference_id",
    ),
    Case("external_reference_id empty", quote_body(external_reference_id=""), field=None),
    Case(
        "a lone UTF-16 surrogate in an address",
        raw=VALID_QUOTE_RAW.replace("8500 Sunset Blvd", "\\ud800").encode(),
        field="pickup.full_address",
    ),
    Case("pickup == dropoff", quote_body(dropoff=dict(SUNSET)), code="same_location"),
    Case("malformed JSON", raw=b'{"pickup": {"lat": 34.09,', status=400, code="malformed_json"),
    Case(
        "trailing garbage", raw=VALID_QUOTE_RAW.encode() + b"}", status=400, code="malformed_json"
    ),
    Case("not JSON at all", raw=b"pickup=sunset", status=400, code="malformed_json"),
    Case("an empty body", raw=b"", field="body"),
    Case("a JSON array", body=[VALID_QUOTE], field="body"),
    Case("a JSON string", body="quote me", field="body"),
    Case("a JSON number", body=42, field="body"),
    Case("JSON null", body=None, raw=b"null", field="body"),
    Case("an empty object", body={}, field="pickup"),
]

DELIVERY_CASES = [
    Case("quote_id 123", {"quote_id": 123}, field="quote_id"),
    Case("quote_id null", {"quote_id": None}, field="quote_id"),
    Case("quote_id empty", {"quote_id": ""}, field="quote_id"),
    Case("quote_id of 65 characters", {"quote_id": "q" * 65}, field="quote_id"),
    Case(
        "quote_id missing", {"customer": {"name": "Ana", "phone": "+13105550100"}}, field="quote_id"
    ),
    Case("unknown field", {"quote_id": QUOTE_ID, "tip_cents": 100}, field="tip_cents"),
    Case(
        "customer without a phone",
        {"quote_id": QUOTE_ID, "customer": {"name": "Ana"}},
        field="customer.phone",
    ),
    Case(
        "customer phone not a phone number",
        {"quote_id": QUOTE_ID, "customer": {"name": "Ana", "phone": "call me"}},
        field="customer.phone",
    ),
    Case(
        "customer phone a number",
        {"quote_id": QUOTE_ID, "customer": {"name": "Ana", "phone": 13105550100}},
        field="customer.phone",
    ),
    Case(
        "customer name empty",
        {"quote_id": QUOTE_ID, "customer": {"name": "", "phone": "+13105550100"}},
        field="customer.name",
    ),
    Case(
        "dropoff_instructions of 1,001 characters",
        {"quote_id": QUOTE_ID, "dropoff_instructions": "x" * 1001},
        field="dropoff_instructions",
    ),
    Case("malformed JSON", raw=b'{"quote_id": ', status=400, code="malformed_json"),
    Case("an empty body", raw=b"", field="body"),
    Case("a JSON array", body=[{"quote_id": QUOTE_ID}], field="body"),
]

CANCEL_CASES = [
    Case("reason a number", {"reason": 5}, field="reason"),
    Case("reason of 501 characters", {"reason": "x" * 501}, field="reason"),
    Case("unknown field", {"reason": "late", "refund": True}, field="refund"),
    Case("a JSON array", ["late"], field="body"),
    Case("malformed JSON", raw=b'{"reason": "late"', status=400, code="malformed_json"),
]


def send(
    merchant: MerchantClient, path: str, case: Case, *, quote_id: str = "", delivery_id: str = ""
) -> httpx.Response:
    content = case.raw if case.raw is not None else json.dumps(case.body).encode()
    content = content.replace(QUOTE_ID.encode(), quote_id.encode())
    path = path.replace(DELIVERY_ID, delivery_id)
    response: httpx.Response = merchant.http.post(
        path, content=content, headers={**merchant.auth, "Content-Type": "application/json"}
    )
    return response


def misbehaviour(case: Case, response: httpx.Response) -> Iterator[str]:
    """How the answer to `case` differs from the expected problem, if it does."""
    if response.status_code != case.status:
        yield f"status {response.status_code} (expected {case.status}): {response.text[:300]}"
        return
    if not response.headers.get("content-type", "").startswith(PROBLEM_JSON):
        yield f"content type {response.headers.get('content-type')!r}"
        return
    body = response.json()
    if body.get("status") != case.status or body.get("code") != case.code:
        yield f"status/code {body.get('status')}/{body.get('code')!r}, expected {case.code!r}"
    if case.field is not None and case.field not in field_paths(body):
        yield f"errors name {field_paths(body)}, not {case.field!r}"


def collect(
    platform: Platform,
    merchant: MerchantClient,
    path: str,
    cases: Sequence[Case],
    **ids: str,
) -> list[str]:
    """Send each case in turn; describe every way the answers misbehave."""
    failures = []
    for case in cases:
        before = row_counts(platform)
        try:
            response = send(merchant, path, case, **ids)
        except Exception as e:  # the test client re-raises what the server answered 500 to
            found = [f"server error {e!r}"[:300]]
        else:
            found = list(misbehaviour(case, response))
        if (after := row_counts(platform)) != before:
            found.append(f"rows were written: {before} -> {after}")
        failures += [f"{case.name}: {what}" for what in found]
    return failures


def check_each(
    platform: Platform,
    merchant: MerchantClient,
    path: str,
    cases: Sequence[Case],
    **ids: str,
) -> None:
    failures = collect(platform, merchant, path, cases, **ids)
    assert not failures, "\n".join(failures)


def test_bad_quote_requests_are_refused_with_a_problem_naming_the_field(
    platform: Platform, merchant: MerchantClient
) -> None:
    check_each(platform, merchant, "/v1/quotes", QUOTE_CASES)


def test_bad_delivery_requests_are_refused_with_a_problem_naming_the_field(
    platform: Platform, merchant: MerchantClient
) -> None:
    quote_id = merchant.quote()["id"]

    check_each(platform, merchant, "/v1/deliveries", DELIVERY_CASES, quote_id=quote_id)

    assert merchant.get(f"/v1/quotes/{quote_id}").json()["used_by_delivery_id"] is None


def test_bad_cancel_requests_are_refused_and_the_delivery_stays_pending(
    platform: Platform, merchant: MerchantClient
) -> None:
    delivery_id = merchant.delivery()["id"]

    check_each(
        platform,
        merchant,
        f"/v1/deliveries/{DELIVERY_ID}/cancel",
        CANCEL_CASES,
        delivery_id=delivery_id,
    )

    assert merchant.get(f"/v1/deliveries/{delivery_id}").json()["status"] == "pending"


def test_a_body_that_is_not_utf8_is_malformed_json(
    platform: Platform, merchant: MerchantClient
) -> None:
    check_each(
        platform,
        merchant,
        "/v1/quotes",
        [Case("invalid UTF-8", raw=b'{"pickup": "\xff\xfe"}', status=400, code="malformed_json")],
    )


def test_a_validation_problem_lists_every_offending_field(merchant: MerchantClient) -> None:
    body = quote_body(pickup=loc(lat=999), dropoff={**MAIN_ST, "lng": "west"}, extra=1)

    answer = problem(merchant.post("/v1/quotes", body), 422, "validation_error")

    assert set(field_paths(answer)) >= {"pickup.lat", "dropoff.lng", "extra"}
    assert all(e["message"] for e in answer["errors"])


def test_a_five_megabyte_body_is_too_large(platform: Platform, merchant: MerchantClient) -> None:
    payload = json.dumps(quote_body(pickup=loc(full_address="x" * 5_000_000))).encode()
    declared = payload  # sent with its Content-Length
    streamed = iter([payload[i : i + 65536] for i in range(0, len(payload), 65536)])  # chunked
    before = row_counts(platform)

    for content in (declared, streamed):
        response = merchant.http.post(
            "/v1/quotes",
            content=content,
            headers={**merchant.auth, "Content-Type": "application/json"},
        )

        problem(response, 413, "payload_too_large")
    assert row_counts(platform) == before


def test_unicode_addresses_are_accepted_and_echoed_exactly(merchant: MerchantClient) -> None:
    pickup = loc(full_address="Straße 5, 東京, 🚀 Apt 4")
    dropoff = {**MAIN_ST, "full_address": "Ünïcödé Çafé — 北京市 «Maison» 👩‍👩‍👧"}
    quote = merchant.quote(pickup=pickup, dropoff=dropoff, external_reference_id="заказ-№7")

    delivery = merchant.delivery(quote_id=quote["id"])

    read_back = [
        merchant.get(f"/v1/quotes/{quote['id']}").json(),
        merchant.get(f"/v1/deliveries/{delivery['id']}").json(),
    ]
    for answer in (quote, delivery, *read_back):
        assert answer["pickup"]["full_address"] == "Straße 5, 東京, 🚀 Apt 4"
        assert answer["dropoff"]["full_address"] == dropoff["full_address"]
        assert answer["external_reference_id"] == "заказ-№7"


# Text that PostgreSQL cannot store (a NUL character) must be refused at the edge on every
# engine, rather than stored by SQLite and turned into a 500 by PostgreSQL.
def test_null_bytes_in_text_are_refused_and_nothing_is_written(
    platform: Platform, merchant: MerchantClient
) -> None:
    failures: list[str] = []
    quotes = [
        Case("pickup.full_address", quote_body(pickup=loc(full_address="8500\x00Sunset"))),
        Case("dropoff.full_address", quote_body(dropoff={**MAIN_ST, "full_address": "\x00"})),
    ]
    failures += collect(platform, merchant, "/v1/quotes", quotes)
    orders = [
        Case(
            "customer.name",
            {"quote_id": QUOTE_ID, "customer": {"name": "Ana\x00", "phone": "+13105550100"}},
        ),
        Case("dropoff_instructions", {"quote_id": QUOTE_ID, "dropoff_instructions": "a\x00b"}),
    ]
    for case in orders:  # each with a quote of its own, should one be accepted
        quote_id = merchant.quote()["id"]
        failures += collect(platform, merchant, "/v1/deliveries", [case], quote_id=quote_id)
    delivery_id = merchant.delivery()["id"]
    cancel = Case("cancel reason", {"reason": "changed\x00mind"}, field="reason")
    path = f"/v1/deliveries/{DELIVERY_ID}/cancel"
    failures += collect(platform, merchant, path, [cancel], delivery_id=delivery_id)

    assert not failures, "\n".join(failures)
    assert merchant.get(f"/v1/deliveries/{delivery_id}").json()["status"] == "pending"


def test_a_null_byte_in_an_id_or_a_filter_finds_nothing_rather_than_crashing(
    merchant: MerchantClient,
) -> None:
    failures = []
    lookups: dict[str, Callable[[], httpx.Response]] = {
        "POST /v1/deliveries": lambda: merchant.order("quo_\x00"),
        "GET /v1/quotes/quo_%00": lambda: merchant.get("/v1/quotes/quo_%00"),
        "GET /v1/deliveries/dlv_%00": lambda: merchant.get("/v1/deliveries/dlv_%00"),
        "GET /v1/deliveries/dlv_%00/events": lambda: merchant.get("/v1/deliveries/dlv_%00/events"),
        "POST /v1/deliveries/dlv_%00/cancel": lambda: merchant.post(
            "/v1/deliveries/dlv_%00/cancel"
        ),
        "GET /v1/deliveries?external_reference_id=%00": lambda: merchant.get(
            "/v1/deliveries", external_reference_id="order\x00"
        ),
    }
    for name, call in lookups.items():
        try:
            response = call()
        except Exception as e:  # the test client re-raises what the server answered 500 to
            failures.append(f"{name}: server error {e!r}"[:300])
            continue
        expected = {200} if "?" in name else {404}
        if response.status_code not in expected:
            failures.append(f"{name}: {response.status_code} {response.text[:200]}")

    assert not failures, "\n".join(failures)


# Arbitrary JSON, and bodies shaped almost like a quote request, whose leaves are arbitrary.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
coordinates = st.floats(min_value=-200, max_value=200) | json_values
locations = st.fixed_dictionaries(
    {},
    optional={"lat": coordinates, "lng": coordinates, "full_address": st.text() | json_values},
)
quote_like = st.fixed_dictionaries(
    {},
    optional={
        "pickup": locations,
        "dropoff": locations,
        "order_value_cents": st.integers() | json_values,
        "external_reference_id": st.text(max_size=30) | json_values,
    },
)


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(body=json_values | quote_like)
def test_no_json_value_as_a_quote_request_gets_a_server_error(
    merchant: MerchantClient, body: Any
) -> None:
    response = merchant.http.post(
        "/v1/quotes",
        content=json.dumps(body).encode(),
        headers={**merchant.auth, "Content-Type": "application/json"},
    )

    assert response.status_code < 500, response.text
    if response.status_code != 201:
        assert response.status_code in {400, 422}, response.text
        assert response.headers["content-type"].startswith(PROBLEM_JSON)
        assert response.json()["code"]
