"""DoorDash Drive v2 behind `CourierProvider`, as its public API reference describes it
(developer.doordash.com, Drive API v2.1.59). Every call carries a short-lived HS256 JWT signed
with the access key (header `dd-ver: DD-JWT-V1`; claims `aud`, `iss`, `kid`, `iat`, `exp`).
A job is created the way DoorDash recommends, quote then accept, under our attempt id as
`external_delivery_id`, which is also the job's id there. Progress comes back as DoorDash's
webhooks (`courier_webhooks.doordash_update`)."""

import base64
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt

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

NAME = "doordash"
TOKEN_LIFETIME_S = 300  # DoorDash accepts up to 1,800
QUOTE_LIFETIME_S = 300  # "You must accept a quote within 5 minutes of requesting it."

STATUSES: Mapping[str, CourierStatus] = {
    "quote": CourierStatus.CREATED,
    "created": CourierStatus.CREATED,
    "confirmed": CourierStatus.CONFIRMED,
    "enroute_to_pickup": CourierStatus.ENROUTE_TO_PICKUP,
    "arrived_at_pickup": CourierStatus.ARRIVED_AT_PICKUP,
    "picked_up": CourierStatus.PICKED_UP,
    "enroute_to_dropoff": CourierStatus.ENROUTE_TO_DROPOFF,
    "arrived_at_dropoff": CourierStatus.ARRIVED_AT_DROPOFF,
    "delivered": CourierStatus.DELIVERED,
    "enroute_to_return": CourierStatus.RETURNING,
    "arrived_at_return": CourierStatus.RETURNING,
    "returned": CourierStatus.RETURNED,
    "cancelled": CourierStatus.CANCELLED,
}
# Ours → `action_if_undeliverable`. Left out, DoorDash treats the order as contactless: the
# Dasher leaves it at the door.
UNDELIVERABLE: Mapping[str, str | None] = {
    "return": "return_to_pickup",
    "dispose": "dispose",
    "leave_at_door": None,
}
# DoorDash's refusals in our words.
REFUSALS: Mapping[str, str] = {
    "unknown_delivery_id": "job_not_found",
    "cancel_not_allowed": "cancel_not_allowed",
    "update_not_allowed": "update_not_allowed",
    "invalid_delivery_parameters": "not_serviceable",
    "validation_error": "invalid_request",
    "authentication_error": "network_auth_failed",
    "authorization_error": "network_auth_failed",
}


def drive_jwt(developer_id: str, key_id: str, signing_secret: str, now: float) -> str:
    """The JWT DoorDash asks for: the signing secret is base64url, without padding."""
    secret = base64.urlsafe_b64decode(signing_secret + "=" * (-len(signing_secret) % 4))
    claims = {
        "aud": "doordash",
        "iss": developer_id,
        "kid": key_id,
        "iat": int(now),
        "exp": int(now) + TOKEN_LIFETIME_S,
    }
    return jwt.encode(claims, secret, algorithm="HS256", headers={"dd-ver": "DD-JWT-V1"})


class DoorDashDrive:
    name = NAME

    def __init__(
        self,
        *,
        base_url: str,
        developer_id: str,
        key_id: str,
        signing_secret: str,
        contact_name: str,
        contact_phone: str,
        clock: Clock,
        timeout_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._contact_name, self._contact_phone, self._clock = contact_name, contact_phone, clock
        self._client = NetworkClient(
            NAME,
            base_url,
            timeout_s=timeout_s,
            headers=lambda: {
                "Authorization": "Bearer "
                + drive_jwt(developer_id, key_id, signing_secret, time.time())
            },
            transport=transport,
        )

    def quote(self, request: CourierRequest) -> CourierQuote:
        """A quote under the attempt's id; `create` accepts it, or asks for it anew."""
        answer = self._call("POST", "/drive/v2/quotes", self._body(request))
        job = self._job(answer)
        now = self._clock.now()
        return CourierQuote(
            fee=job.fee,
            pickup_eta=job.pickup_eta or now,
            dropoff_eta=job.dropoff_eta or now,
            expires_at=datetime.fromtimestamp(now.timestamp() + QUOTE_LIFETIME_S, UTC),
        )

    def create(self, request: CourierRequest) -> CourierJob:
        """Quote, then accept. An id DoorDash already knows (a retry, or a quote taken earlier)
        is read back: still a quote, it is accepted; otherwise it is the job."""
        ident = request.external_id
        try:
            self._call("POST", "/drive/v2/quotes", self._body(request))
        except CourierRejected as e:
            if e.code != "duplicate_delivery_id":
                raise
            known = self._call("GET", f"/drive/v2/deliveries/{ident}")
            if known.get("delivery_status") != "quote":
                return self._job(known)
        answer = self._call("POST", f"/drive/v2/quotes/{ident}/accept", {})
        return self._job(answer)

    def cancel(self, job_id: str, *, reason: str | None = None) -> CourierJob:
        return self._job(self._call("PUT", f"/drive/v2/deliveries/{job_id}/cancel", {}))

    def get(self, job_id: str) -> CourierJob:
        return self._job(self._call("GET", f"/drive/v2/deliveries/{job_id}"))

    def update(self, job_id: str, request: CourierRequest) -> CourierJob:
        body: dict[str, Any] = {
            "dropoff_phone_number": request.dropoff_phone or self._contact_phone,
            "dropoff_instructions": request.dropoff_instructions or "",
        }
        if request.dropoff_contact_name:
            body["dropoff_contact_given_name"] = request.dropoff_contact_name
        if request.order_value_cents is not None:
            body["order_value"] = request.order_value_cents
        if request.pickup_at is not None:
            body["pickup_time"] = request.pickup_at.isoformat()
        return self._job(self._call("PATCH", f"/drive/v2/deliveries/{job_id}", body))

    def close(self) -> None:
        self._client.close()

    def _call(
        self, method: str, path: str, body: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        try:
            return self._client.call(method, path, body)
        except Refused as e:
            if e.status in (401, 403):
                raise CourierError(f"DoorDash refused our credentials: {e}") from e
            code = "duplicate_delivery_id" if e.code == "duplicate_delivery_id" else None
            raise CourierRejected(
                f"DoorDash: {e}", code=code or REFUSALS.get(e.code, e.code)
            ) from e

    def _body(self, request: CourierRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "external_delivery_id": request.external_id,
            "pickup_address": request.pickup.address,
            "pickup_business_name": self._contact_name,
            "pickup_phone_number": self._contact_phone,
            "dropoff_address": request.dropoff.address,
            "dropoff_location": {"lat": request.dropoff.lat, "lng": request.dropoff.lng},
            "dropoff_phone_number": request.dropoff_phone or self._contact_phone,
        }
        optional = {
            "dropoff_contact_given_name": request.dropoff_contact_name,
            "dropoff_instructions": request.dropoff_instructions,
            "order_value": request.order_value_cents,
            "pickup_reference_tag": request.reference,
            "pickup_time": request.pickup_at.isoformat() if request.pickup_at else None,
            "action_if_undeliverable": UNDELIVERABLE.get(request.undeliverable_action),
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        if request.dropoff_before is not None:
            body["dropoff_window"] = {
                "start_time": (request.pickup_at or self._clock.now()).isoformat(),
                "end_time": request.dropoff_before.isoformat(),
            }
        if request.dropoff_pin is not None:
            # The customer tells the Dasher the PIN they already have for the robot.
            body["dropoff_options"] = {"proof_of_delivery": "pin_code"}
            body["dropoff_pin_code_verification_metadata"] = {
                "pin_code_type": "merchant_provided_number",
                "pin_code_value": request.dropoff_pin,
            }
        return body

    def _job(self, raw: Mapping[str, Any]) -> CourierJob:
        now = self._clock.now()
        where = raw.get("dasher_location")
        position = None
        if isinstance(where, Mapping) and "lat" in where and "lng" in where:
            position = LatLng(float(where["lat"]), float(where["lng"]))
        updated = parse_time(raw.get("updated_at")) or now
        return CourierJob(
            id=str(raw["external_delivery_id"]),
            external_id=str(raw["external_delivery_id"]),
            status=STATUSES.get(str(raw.get("delivery_status")), CourierStatus.CREATED),
            fee=Money(int(raw.get("fee") or 0), str(raw.get("currency") or "USD")),
            pickup_eta=parse_time(raw.get("pickup_time_estimated")),
            dropoff_eta=parse_time(raw.get("dropoff_time_estimated")),
            courier_position=position,
            created_at=updated,
            updated_at=updated,
        )
