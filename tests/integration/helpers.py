"""Small helpers shared by the HTTP-level tests: problem checks, row counts, forced states,
requests fired in parallel over a real socket, and the events carried between the two
services (`Pump`) as the running platform's bus would carry them."""

import math
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import Engine, Table, select, text

from sidewalk.bootstrap import Platform
from sidewalk.deliveries import handlers as deliveries_handlers
from sidewalk.deliveries.models import OUTBOX as DELIVERIES_OUTBOX
from sidewalk.kernel.events import Envelope
from sidewalk.operations import handlers as operations_handlers
from sidewalk.operations.models import OUTBOX as OPERATIONS_OUTBOX

PROBLEM_JSON = "application/problem+json"

# Every table a merchant's request can write to.
WRITABLE_TABLES = (
    "quotes",
    "locations",
    "deliveries",
    "attempts",
    "delivery_attempts",
    "delivery_events",
    "idempotency_keys",
)

# Both ends of the West Hollywood area, about 5 km apart on foot: beyond the default robot
# range of 3 km, yet inside the area.
WEST_WEHO = {"lat": 34.0850, "lng": -118.3900, "full_address": "9000 Santa Monica Blvd"}
EAST_WEHO = {"lat": 34.0900, "lng": -118.3460, "full_address": "7100 Santa Monica Blvd"}
# Outside the area: near downtown (a short courier ride from DOWNTOWN), and Beverly Hills.
SOUTH_PARK = {"lat": 34.0407, "lng": -118.2468, "full_address": "1111 S Figueroa St"}
BEVERLY_HILLS = {"lat": 34.0736, "lng": -118.4004, "full_address": "9400 Wilshire Blvd"}

UNKNOWN_QUOTE_ID = "quo_" + "0" * 22
UNKNOWN_DELIVERY_ID = "dlv_" + "0" * 22


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Assert that `response` is an RFC 9457 problem with this status and code; return it."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code, body
    assert body["title"]
    assert body["detail"]
    assert body["type"]
    return body


def field_paths(body: dict[str, Any]) -> list[str]:
    return [e["field"] for e in body.get("errors") or []]


def row_counts(platform: Platform) -> dict[str, int]:
    with platform.deliveries_engine.connect() as connection:
        return {
            table: connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in WRITABLE_TABLES
        }


def force_delivery_status(platform: Platform, delivery_id: str, status: str) -> None:
    """Put a delivery in a status only the operations service (not written yet) can reach.
    The row is changed directly: there is no API to move a delivery along its way yet."""
    with platform.deliveries_engine.begin() as connection:
        changed = connection.execute(
            text("UPDATE deliveries SET status = :status WHERE id = :id"),
            {"status": status, "id": delivery_id},
        )
        assert changed.rowcount == 1


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


EARTH_RADIUS_M = 6_371_008.8


def walking_distance_m(a: dict[str, Any], b: dict[str, Any], detour: float = 1.3) -> int:
    """The route the API should price: the great-circle distance times the detour factor,
    rounded up to the metre (computed here independently of the code under test)."""
    p1, p2 = math.radians(a["lat"]), math.radians(b["lat"])
    dp, dl = p2 - p1, math.radians(b["lng"] - a["lng"])
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return math.ceil(2 * EARTH_RADIUS_M * math.asin(math.sqrt(h)) * detour)


def fee_cents(base: int, per_km: int, distance_m: int) -> int:
    """Base plus the per-km rate, rounded half up to the cent."""
    return base + (per_km * distance_m + 500) // 1000


def post_in_parallel(
    base_url: str, path: str, requests: Sequence[tuple[dict[str, str], Any]]
) -> list[httpx.Response]:
    """Send every (headers, JSON body) at once, each from its own thread and connection,
    released together by a barrier so that they really overlap."""
    barrier = threading.Barrier(len(requests))

    def send(request: tuple[dict[str, str], Any]) -> httpx.Response:
        headers, body = request
        with httpx.Client(base_url=base_url, timeout=60) as http:
            barrier.wait(timeout=30)
            return http.post(path, json=body, headers=headers)

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        return list(pool.map(send, requests))


class Pump:
    """Carries each new event of one service's outbox to the other's handlers, twice."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.seen = {"deliveries": 0, "operations": 0}

    def _new(self, engine: Engine, table: Table, name: str) -> list[Envelope]:
        with engine.connect() as connection:
            rows = connection.execute(
                select(table.c.seq, table.c.envelope)
                .where(table.c.seq > self.seen[name])
                .order_by(table.c.seq)
            ).all()
        if rows:
            self.seen[name] = rows[-1].seq
        return [Envelope.from_json(r.envelope) for r in rows]

    def __call__(self) -> None:
        p = self.platform
        for _ in range(3):  # what one side does may make the other say more
            p.operations.positions.flush()  # as its thread does every interval
            for e in self._new(p.deliveries_engine, DELIVERIES_OUTBOX, "deliveries"):
                operations_handlers.handle(p.operations, e)
                operations_handlers.handle(p.operations, e)
            for e in self._new(p.operations_engine, OPERATIONS_OUTBOX, "operations"):
                deliveries_handlers.handle(p.deliveries, e)
                deliveries_handlers.handle(p.deliveries, e)


def cancelled(
    platform: Platform, merchant: Any, delivery_id: str, reason: str | None = None
) -> dict[str, Any]:
    """Cancel as the merchant, and let the operations service answer (a robot's attempt is
    stopped there): the delivery as the merchant then reads it."""
    body = None if reason is None else {"reason": reason}
    asked = merchant.post(f"/v1/deliveries/{delivery_id}/cancel", body)
    assert asked.status_code in (200, 202), asked.text
    Pump(platform)()
    seen: dict[str, Any] = merchant.get(f"/v1/deliveries/{delivery_id}").json()
    return seen
