"""Real courier networks' webhooks into `CourierUpdate`s: who sent them, and what they say.

- DoorDash Drive signs nothing; its webhooks carry the `Authorization` header set for them in
  its portal, compared here in constant time. Their body is flat: `event_name` (or
  `event_type`), `external_delivery_id`, `created_at`, the Dasher's `dasher_location`, and the
  delivery's fields.
- Uber Direct signs the raw body with HMAC-SHA256 and the webhook's signing key, in hex, in
  `x-uber-signature` (`x-postmates-signature` in its older guide). `event.delivery_status`
  carries the new `status`; `event.courier_update` the courier's `location`, every 20 s or so;
  both the whole delivery in `data`.

Networks deliver out of order and more than once: the update's event id (Uber's own, or one
made of DoorDash's fields) lets the inbox apply each once, and `courier_steps` leaves alone a
status the delivery has passed."""

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sidewalk.deliveries.domain import CourierStatus
from sidewalk.deliveries.providers import doordash, uber
from sidewalk.deliveries.providers.courier import CourierUpdate
from sidewalk.deliveries.providers.network_http import parse_time

C = CourierStatus

DOORDASH_EVENTS: Mapping[str, CourierStatus] = {
    "DASHER_CONFIRMED": C.CONFIRMED,
    "DASHER_ENROUTE_TO_PICKUP": C.ENROUTE_TO_PICKUP,
    "DASHER_CONFIRMED_PICKUP_ARRIVAL": C.ARRIVED_AT_PICKUP,
    "DASHER_PICKED_UP": C.PICKED_UP,
    "DASHER_ENROUTE_TO_DROPOFF": C.ENROUTE_TO_DROPOFF,
    "DASHER_CONFIRMED_DROPOFF_ARRIVAL": C.ARRIVED_AT_DROPOFF,
    "DASHER_DROPPED_OFF": C.DELIVERED,
    "DELIVERY_RETURN_INITIALIZED": C.RETURNING,
    "DASHER_CONFIRMED_RETURN_ARRIVAL": C.RETURNING,
    "DELIVERY_RETURNED": C.RETURNED,
    "DELIVERY_CANCELLED": C.CANCELLED,
}


def doordash_caller_ok(authorization: str | None, expected: str) -> bool:
    return authorization is not None and hmac.compare_digest(
        authorization.encode(), expected.encode()
    )


def uber_signature_ok(body: bytes, signature: str | None, key: str) -> bool:
    if not signature:
        return False
    expected = hmac.new(key.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature.strip().lower())


def doordash_update(payload: Mapping[str, Any], received_at: datetime) -> CourierUpdate | None:
    """The update a DoorDash webhook tells, or None for an event that moves nothing."""
    name = str(payload.get("event_name") or payload.get("event_type") or "")
    status = DOORDASH_EVENTS.get(name)
    ident = payload.get("external_delivery_id")
    if status is None or not ident:
        return None
    created = str(payload.get("created_at") or "")
    event_id = hashlib.sha256(f"{ident}|{name}|{created}".encode()).hexdigest()[:32]
    lat, lng = _doordash_position(payload)
    reason = payload.get("cancellation_reason")
    undeliverable = None
    if status is C.RETURNING:
        undeliverable, reason = "returned", reason or "customer_unavailable"
    elif (
        status is C.CANCELLED
        and reason == "failed_to_deliver"
        and payload.get("action_if_undeliverable") == "dispose"
    ):
        # Given up at the door with the goods: disposed of, as the order said.
        status, undeliverable = C.FAILED, "disposed"
    proof, url = _doordash_proof(payload) if status is C.DELIVERED else (None, None)
    return CourierUpdate(
        provider=doordash.NAME,
        event_id=f"dd_{event_id}",
        job_id=str(ident),
        external_id=str(ident),
        status=status,
        occurred_at=parse_time(created) or received_at,
        lat=lat,
        lng=lng,
        reason=str(reason) if reason else None,
        proof=proof,
        proof_url=url,
        undeliverable=undeliverable,
    )


def uber_update(payload: Mapping[str, Any], received_at: datetime) -> CourierUpdate | None:
    """The update an Uber webhook tells, or None for a kind that moves nothing."""
    if payload.get("kind") not in ("event.delivery_status", "event.courier_update"):
        return None
    data = payload.get("data")
    if not isinstance(data, Mapping):
        data = {}
    raw_status = payload.get("status") or data.get("status")
    status = uber.STATUSES.get(str(raw_status))
    job_id = payload.get("delivery_id") or data.get("id")
    if status is None or not job_id or not payload.get("id"):
        return None
    where = payload.get("location")
    if not isinstance(where, Mapping):
        courier = data.get("courier")
        where = courier.get("location") if isinstance(courier, Mapping) else None
    lat = lng = None
    if isinstance(where, Mapping) and "lat" in where and "lng" in where:
        lat, lng = float(where["lat"]), float(where["lng"])
    taken = str(data.get("undeliverable_action") or "")
    reason = str(data.get("undeliverable_reason") or "") or None
    undeliverable = taken if taken in ("returned", "left_at_door") else None
    if status is C.CANCELLED and reason and data.get("status") != "pending":
        status, undeliverable = C.FAILED, "disposed"  # `discard`: dropped after pickup
    proof, url = _uber_proof(data) if status is C.DELIVERED else (None, None)
    return CourierUpdate(
        provider=uber.NAME,
        event_id=str(payload["id"]),
        job_id=str(job_id),
        external_id=str(data.get("external_id") or ""),
        status=status,
        occurred_at=parse_time(payload.get("created")) or received_at,
        lat=lat,
        lng=lng,
        reason=reason or ("customer_unavailable" if undeliverable else None),
        proof=proof,
        proof_url=url,
        undeliverable=undeliverable,
    )


def _doordash_position(payload: Mapping[str, Any]) -> tuple[float | None, float | None]:
    where = payload.get("dasher_location")
    if isinstance(where, Mapping) and "lat" in where and "lng" in where:
        return float(where["lat"]), float(where["lng"])
    lat, lng = payload.get("dasher_location_lat"), payload.get("dasher_location_lng")
    if lat is not None and lng is not None:
        return float(lat), float(lng)
    return None, None


def _doordash_proof(payload: Mapping[str, Any]) -> tuple[str, str | None]:
    if payload.get("dropoff_signature_image_url"):
        return "signature", str(payload["dropoff_signature_image_url"])
    if payload.get("dropoff_verification_image_url"):
        return "photo", str(payload["dropoff_verification_image_url"])
    options = payload.get("dropoff_options")
    if isinstance(options, Mapping) and options.get("proof_of_delivery") == "pin_code":
        return "pin", None
    return "none", None


def _uber_proof(data: Mapping[str, Any]) -> tuple[str, str | None]:
    dropoff = data.get("dropoff")
    proof = dropoff.get("verification") if isinstance(dropoff, Mapping) else None
    if not isinstance(proof, Mapping):
        return "none", None
    for kind, name in (("signature", "signature"), ("picture", "photo")):
        shown = proof.get(kind)
        if isinstance(shown, Mapping) and shown.get("image_url"):
            return name, str(shown["image_url"])
    pin = proof.get("pin_code")
    if isinstance(pin, Mapping) and pin.get("entered"):
        return "pin", None
    return "none", None
