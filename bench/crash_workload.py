"""The work the crash run puts on the platform while its processes are being killed: merchants
ordering (and now and then cancelling) over the merchant API, robots driving their tasks over
the ops API (and now and then faulting, so another robot or a courier takes over), and a
webhook receiver that keeps every message it is sent.

Every caller behaves as a well-written client would when a server dies under it: it tries
again, and an order is tried again with the same `Idempotency-Key`, so that a retry after an
answer lost in a crash cannot order twice. Nothing here knows which process is down."""

import asyncio
import contextlib
import json
import random
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

# Inside the default service area (West Hollywood).
PLACES = [
    {"lat": 34.0901, "lng": -118.3617, "full_address": "8500 Sunset Blvd"},
    {"lat": 34.0857, "lng": -118.3760, "full_address": "1 Main St"},
    {"lat": 34.0837, "lng": -118.3617, "full_address": "8400 Melrose Ave"},
    {"lat": 34.0880, "lng": -118.3700, "full_address": "900 N La Cienega Blvd"},
]
HOME = {"lat": 34.0880, "lng": -118.3700, "battery_pct": 95.0}
RETRYABLE = {429, 500, 502, 503, 504}
PATIENCE_S = 120  # how long a caller keeps trying one request before it gives up


@dataclass
class Order:
    merchant_id: str
    reference: str
    delivery_id: str | None = None  # None: never answered, even after every retry
    cancel: bool = False
    pin: str | None = None  # what the customer types on the robot at the door


@dataclass
class Tally:
    requests: int = 0
    retries: int = 0  # tries again after no answer or a 5xx/429
    refused: Counter[str] = field(default_factory=Counter)  # 4xx answers, by code
    faults: int = 0
    cancels: int = 0


async def call(
    http: httpx.AsyncClient, tally: Tally, method: str, url: str, **kwargs: Any
) -> httpx.Response | None:
    """One request, tried again while no answer comes or the answer says try again."""
    deadline = time.monotonic() + PATIENCE_S
    while True:
        tally.requests += 1
        try:
            answer = await http.request(method, url, **kwargs)
            if answer.status_code not in RETRYABLE:
                if answer.status_code >= 400:
                    tally.refused[
                        f"{method} {_route(url)} {answer.status_code} {_code(answer)}"
                    ] += 1
                return answer
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            return None
        tally.retries += 1
        await asyncio.sleep(0.2)


def _route(url: str) -> str:
    """The URL with its ids as `…`, so that refusals are counted by route."""
    return re.sub(r"/[a-z]+_[0-9a-z]+", "/…", url)


def _code(answer: httpx.Response) -> str:
    try:
        return str(answer.json().get("code", ""))
    except ValueError:
        return ""


async def merchant(
    api: str, key: str, merchant_id: str, orders: list[Order], tally: Tally,
    stop: asyncio.Event, every_s: float, cancel_rate: float, rng: random.Random,
) -> None:  # fmt: skip
    """Orders about every `every_s` until `stop`; cancels some a moment after ordering."""
    auth = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=api, headers=auth, timeout=10) as http:
        pending: list[asyncio.Task[None]] = []
        while not stop.is_set():
            pickup, dropoff = rng.sample(PLACES, 2)
            order = Order(merchant_id, f"crash-{uuid.uuid4().hex[:12]}")
            orders.append(order)
            quote = await call(
                http, tally, "POST", "/v1/quotes",
                json={"external_reference_id": order.reference, "pickup": pickup,
                      "dropoff": dropoff, "order_value_cents": 1800},
            )  # fmt: skip
            if quote is not None and quote.status_code == 201:
                made = await call(
                    http, tally, "POST", "/v1/deliveries",
                    json={"quote_id": quote.json()["id"]},
                    headers={"Idempotency-Key": order.reference},
                )  # fmt: skip
                if made is not None and made.status_code == 201:
                    order.delivery_id = made.json()["id"]
                    order.pin = made.json()["unlock_pin"]
                    if rng.random() < cancel_rate:
                        order.cancel = True
                        pending.append(asyncio.create_task(
                            _cancel_later(http, tally, order.delivery_id, rng.uniform(0.5, 4))
                        ))  # fmt: skip
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), rng.expovariate(1 / every_s))
        await asyncio.gather(*pending)


async def _cancel_later(
    http: httpx.AsyncClient, tally: Tally, delivery_id: str, after: float
) -> None:
    await asyncio.sleep(after)
    tally.cancels += 1
    await call(http, tally, "POST", f"/v1/deliveries/{delivery_id}/cancel", json={"reason": "test"})


NEXT_EVENT = {"pending": "started", "in_progress": "arrived", "arrived": "completed"}


async def robot(
    ops: str, serial: str, token: str, orders: list[Order], tally: Tally, stop: asyncio.Event,
    step_s: float, fault_rate: float, rng: random.Random,
) -> None:  # fmt: skip
    """Reports in, then drives whatever task the platform gives it, one trip event every
    `step_s`, reading its task again before each step (so a step that took effect but whose
    answer was lost is not taken twice). At the door the customer opens the compartment with
    the order's PIN before the dropoff completes. Now and then it faults as it sets off, and
    reports itself fixed a moment later."""
    auth = {"Authorization": f"Bearer {token}"}
    last_report = 0.0
    async with httpx.AsyncClient(base_url=ops, headers=auth, timeout=10) as http:
        while not stop.is_set():
            if time.monotonic() - last_report > 2:
                await call(http, tally, "POST", f"/ops/v1/robots/{serial}/telemetry", json=HOME)
                last_report = time.monotonic()
            got = await call(http, tally, "GET", f"/ops/v1/robots/{serial}/task")
            task = got.json() if got is not None and got.status_code == 200 else None
            trip = next(
                (t for t in (task or {}).get("trips", []) if t["status"] in NEXT_EVENT), None
            )
            if trip is None:
                await asyncio.sleep(step_s)
                continue
            if trip["status"] == "pending" and rng.random() < fault_rate:
                tally.faults += 1
                await call(http, tally, "POST", f"/ops/v1/robots/{serial}/telemetry",
                           json={**HOME, "state": "fault"})  # fmt: skip
                await asyncio.sleep(rng.uniform(1, 2))
                await call(http, tally, "POST", f"/ops/v1/robots/{serial}/telemetry",
                           json={**HOME, "state": "idle"})  # fmt: skip
                continue
            if (trip["type"], trip["status"]) == ("to_dropoff", "arrived"):
                pin = next((o.pin for o in orders if o.delivery_id == task["delivery_id"]), None)
                if not pin:
                    # The merchant has not had the order's answer yet (the API died before
                    # giving it), so its customer has no PIN: the robot waits at the door
                    # rather than have wrong PINs lock the compartment.
                    await asyncio.sleep(step_s)
                    continue
                await call(http, tally, "POST", f"/ops/v1/robots/{serial}/unlock",
                           json={"pin": pin})  # fmt: skip
            await call(http, tally, "POST", f"/ops/v1/trips/{trip['id']}/events",
                       json={"event": NEXT_EVENT[trip["status"]]})  # fmt: skip
            await asyncio.sleep(step_s)
        await call(http, tally, "POST", f"/ops/v1/robots/{serial}/telemetry",
                   json={**HOME, "state": "offline"})  # fmt: skip


@dataclass
class Received:
    message_id: str
    endpoint: str
    event_type: str
    delivery_id: str
    signed: bool


class WebhookReceiver:
    """A merchant's receiver on a free local port: keeps every message, checks its signature
    with the independent Standard Webhooks library, answers 200."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.secrets: dict[str, str] = {}  # endpoint path → its signing secret
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver._keep(self.path, headers, body)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def _keep(self, path: str, headers: dict[str, str], body: bytes) -> None:
        secret = self.secrets.get(path)
        try:
            signed = secret is not None and bool(Webhook(secret).verify(body, headers))
        except WebhookVerificationError:
            signed = False
        payload = json.loads(body)
        delivery = payload.get("data", {})
        with self._lock:
            self.received.append(
                Received(
                    headers.get("webhook-id", ""), path, str(payload.get("type")),
                    str(delivery.get("id")), signed,
                )
            )  # fmt: skip

    @contextmanager
    def running(self) -> Iterator["WebhookReceiver"]:
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
