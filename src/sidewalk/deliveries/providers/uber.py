"""Uber Direct behind `CourierProvider`, as its public API reference describes it (the Direct
API's OpenAPI in uber/uber-direct-sdk). Calls carry an OAuth access token from the client
credentials grant (scope `eats.deliveries`), asked for again shortly before it expires or when
it is refused. A job is created with our attempt id as both `external_id` and
`idempotency_key`, so a retry gives the same delivery (`del_…`, the job's id there). Progress
comes back as Uber's signed webhooks (`courier_webhooks.uber_updates`)."""

import json
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from sidewalk.deliveries.domain import CourierStatus
from sidewalk.deliveries.providers.courier import (
    CourierError,
    CourierJob,
    CourierQuote,
    CourierRejected,
    CourierRequest,
)
from sidewalk.deliveries.providers.network_http import NetworkClient, Refused, parse_time
from sidewalk.kernel.clock import Clock
from sidewalk.kernel.geo import LatLng
from sidewalk.kernel.money import Money

NAME = "uber"
SCOPE = "eats.deliveries"
TOKEN_MARGIN_S = 300  # ask for a new token this long before the old one expires

STATUSES: Mapping[str, CourierStatus] = {
    "pending": CourierStatus.CREATED,
    "pickup": CourierStatus.ENROUTE_TO_PICKUP,
    "pickup_complete": CourierStatus.PICKED_UP,
    "dropoff": CourierStatus.ENROUTE_TO_DROPOFF,
    "delivered": CourierStatus.DELIVERED,
    "canceled": CourierStatus.CANCELLED,
    "returned": CourierStatus.RETURNED,
}
UNDELIVERABLE: Mapping[str, str] = {
    "return": "return",
    "leave_at_door": "leave_at_door",
    "dispose": "discard",
}
REFUSALS: Mapping[str, str] = {
    "delivery_not_found": "job_not_found",
    "noncancelable_delivery": "cancel_not_allowed",
    "address_undeliverable": "not_serviceable",
    "address_undeliverable_limited_couriers": "not_serviceable",
    "unknown_location": "not_serviceable",
    "invalid_params": "invalid_request",
}


class UberToken:
    """The client-credentials token, kept until shortly before it expires."""

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        timeout_s: float,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._url, self._id, self._secret = token_url, client_id, client_secret
        self._http = httpx.Client(timeout=timeout_s, transport=transport)
        self._token: str | None = None
        self._until = 0.0
        self._lock = threading.Lock()

    def header(self) -> dict[str, str]:
        with self._lock:
            if self._token is None or time.monotonic() >= self._until:
                self._token, lifetime = self._ask()
                self._until = time.monotonic() + max(lifetime - TOKEN_MARGIN_S, lifetime / 2)
            return {"Authorization": f"Bearer {self._token}"}

    def forget(self) -> None:
        with self._lock:
            self._token = None

    def _ask(self) -> tuple[str, float]:
        form = {
            "client_id": self._id,
            "client_secret": self._secret,
            "grant_type": "client_credentials",
            "scope": SCOPE,
        }
        try:
            answer = self._http.post(self._url, data=form)
        except httpx.HTTPError as e:
            raise CourierError(f"Uber's token endpoint did not answer: {e!r}") from e
        if answer.status_code != 200:
            raise CourierError(f"Uber refused a token: {answer.status_code} {answer.text[:200]}")
        body = answer.json()
        return str(body["access_token"]), float(body.get("expires_in") or 3600)


class UberDirect:
    name = NAME

    def __init__(
        self,
        *,
        base_url: str,
        token_url: str,
        customer_id: str,
        client_id: str,
        client_secret: str,
        contact_name: str,
        contact_phone: str,
        clock: Clock,
        timeout_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._contact_name, self._contact_phone, self._clock = contact_name, contact_phone, clock
        self._token = UberToken(
            token_url, client_id, client_secret, timeout_s=timeout_s, transport=transport
        )
        self._base = f"/v1/customers/{customer_id}"
        self._client = NetworkClient(
            NAME, base_url, timeout_s=timeout_s, headers=self._token.header, transport=transport
        )

    def quote(self, request: CourierRequest) -> CourierQuote:
        body = self._places(request)
        body.update(self._times(request))
        if request.order_value_cents is not None:
            body["manifest_total_value"] = request.order_value_cents
        answer = self._call("POST", f"{self._base}/delivery_quotes", body)
        now = self._clock.now()
        dropoff = parse_time(answer.get("dropoff_eta")) or now
        pickup_minutes = float(answer.get("pickup_duration") or 0)
        return CourierQuote(
            fee=Money(int(answer["fee"]), str(answer.get("currency_type") or "USD").upper()),
            pickup_eta=datetime.fromtimestamp(now.timestamp() + 60 * pickup_minutes, UTC),
            dropoff_eta=dropoff,
            expires_at=parse_time(answer.get("expires")) or now,
        )

    def create(self, request: CourierRequest) -> CourierJob:
        body = self._places(request)
        body.update(self._times(request))
        body.update(
            {
                "pickup_name": self._contact_name,
                "pickup_phone_number": self._contact_phone,
                "dropoff_name": request.dropoff_contact_name or "Customer",
                "dropoff_phone_number": request.dropoff_phone or self._contact_phone,
                "manifest_items": [{"name": "Order", "quantity": 1, "size": "small"}],
                "external_id": request.external_id,
                "idempotency_key": request.external_id,
                "undeliverable_action": UNDELIVERABLE.get(request.undeliverable_action, "return"),
            }
        )
        if request.reference:
            body["manifest_reference"] = request.reference
        if request.order_value_cents is not None:
            body["manifest_total_value"] = request.order_value_cents
        if request.dropoff_instructions:
            body["dropoff_notes"] = request.dropoff_instructions[:280]
        if request.dropoff_pin is not None:
            # Uber makes its own PIN and gives it to the customer in its messages.
            body["dropoff_verification"] = {"pincode": {"enabled": True}}
        try:
            return self._job(self._client.call("POST", f"{self._base}/deliveries", body))
        except Refused as e:
            # Uber names the delivery an idempotency key or an external id already made.
            metadata = e.body.get("metadata")
            known = metadata.get("delivery_id") if isinstance(metadata, Mapping) else None
            if e.code == "duplicate_delivery" and known:
                return self.get(str(known))
            raise self._refusal(e) from e

    def cancel(self, job_id: str, *, reason: str | None = None) -> CourierJob:
        return self._job(self._call("POST", f"{self._base}/deliveries/{job_id}/cancel"))

    def get(self, job_id: str) -> CourierJob:
        return self._job(self._call("GET", f"{self._base}/deliveries/{job_id}"))

    def update(self, job_id: str, request: CourierRequest) -> CourierJob:
        """Uber takes new notes for the courier; the rest stays as created."""
        body = {"dropoff_notes": (request.dropoff_instructions or "")[:280]}
        return self._job(self._call("POST", f"{self._base}/deliveries/{job_id}", body))

    def close(self) -> None:
        self._client.close()

    def _call(
        self, method: str, path: str, body: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        try:
            return self._client.call(method, path, body)
        except Refused as e:
            raise self._refusal(e) from e

    def _refusal(self, e: Refused) -> CourierError:
        if e.status == 401:
            self._token.forget()  # a revoked token: the next call asks for a new one
            return CourierError(f"Uber refused our token: {e}")
        return CourierRejected(f"Uber: {e}", code=REFUSALS.get(e.code, e.code))

    @staticmethod
    def _places(request: CourierRequest) -> dict[str, Any]:
        return {
            "pickup_address": json.dumps({"street_address": [request.pickup.address]}),
            "pickup_latitude": request.pickup.lat,
            "pickup_longitude": request.pickup.lng,
            "dropoff_address": json.dumps({"street_address": [request.dropoff.address]}),
            "dropoff_latitude": request.dropoff.lat,
            "dropoff_longitude": request.dropoff.lng,
        }

    @staticmethod
    def _times(request: CourierRequest) -> dict[str, str]:
        times = {}
        if request.pickup_at is not None:
            times["pickup_ready_dt"] = request.pickup_at.isoformat()
        if request.dropoff_before is not None:
            times["dropoff_deadline_dt"] = request.dropoff_before.isoformat()
        return times

    def _job(self, raw: Mapping[str, Any]) -> CourierJob:
        return uber_job(raw, self._clock.now())


def uber_job(raw: Mapping[str, Any], now: datetime) -> CourierJob:
    """A delivery as Uber shows it (its API's answers and its webhooks' `data`)."""
    courier = raw.get("courier") or {}
    where = courier.get("location") if isinstance(courier, Mapping) else None
    position = None
    if isinstance(where, Mapping) and "lat" in where and "lng" in where:
        position = LatLng(float(where["lat"]), float(where["lng"]))
    currency = str(raw.get("currency_type") or raw.get("currency") or "USD").upper()
    return CourierJob(
        id=str(raw["id"]),
        external_id=str(raw.get("external_id") or ""),
        status=STATUSES.get(str(raw.get("status")), CourierStatus.CREATED),
        fee=Money(int(raw.get("fee") or 0), currency),
        pickup_eta=parse_time(raw.get("pickup_eta")),
        dropoff_eta=parse_time(raw.get("dropoff_eta")),
        courier_position=position,
        created_at=parse_time(raw.get("created")) or now,
        updated_at=parse_time(raw.get("updated")) or now,
    )
