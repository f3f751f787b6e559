"""What the merchant API accepts and answers (Pydantic, at the edge only)."""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from sidewalk.deliveries.domain import (
    AttemptProvider,
    AttemptStatus,
    CancelStatus,
    DeliveryStatus,
    UndeliverableAction,
)
from sidewalk.deliveries.promises import NO_MARGINS, Margins
from sidewalk.kernel.schemas import NO_NUL, Latitude, Longitude, Request, UtcDatetime

Address = Annotated[
    str, Field(min_length=1, max_length=500, pattern=NO_NUL, examples=["8500 Sunset Blvd"])
]
Reference = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$")]
FreeText = Annotated[str, Field(max_length=1000, pattern=NO_NUL)]


class LocationIn(Request):
    lat: Latitude
    lng: Longitude
    full_address: Address


class DropoffWindow(Request):
    """When the customer wants the goods: after `start_at`, before `end_at` (either may be left
    out, not both)."""

    start_at: UtcDatetime | None = Field(None, strict=False)
    end_at: UtcDatetime | None = Field(None, strict=False)

    @model_validator(mode="after")
    def _ordered(self) -> "DropoffWindow":
        if self.start_at is None and self.end_at is None:
            raise ValueError("Give start_at, end_at or both")
        if self.start_at is not None and self.end_at is not None and self.end_at <= self.start_at:
            raise ValueError("end_at must come after start_at")
        return self


class QuoteCreate(Request):
    external_reference_id: Reference | None = None
    pickup: LocationIn
    dropoff: LocationIn
    order_value_cents: Annotated[int, Field(ge=0, le=100_000_000)] | None = None
    pickup_ready_at: UtcDatetime | None = Field(
        None,
        strict=False,
        description="When the order will be ready (ISO 8601 with a zone); left out: now. Up to "
        "30 days ahead.",
    )
    dropoff_window: DropoffWindow | None = Field(
        None, description="When the customer wants the goods; left out: as soon as possible."
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "external_reference_id": "order-1042",
                    "pickup": {
                        "lat": 34.0901,
                        "lng": -118.3617,
                        "full_address": "8500 Sunset Blvd",
                    },
                    "dropoff": {
                        "lat": 34.0857,
                        "lng": -118.3760,
                        "full_address": "1 Main St, Apt 4",
                    },
                    "order_value_cents": 2350,
                },
                {
                    "pickup": {
                        "lat": 34.0901,
                        "lng": -118.3617,
                        "full_address": "8500 Sunset Blvd",
                    },
                    "dropoff": {
                        "lat": 34.0857,
                        "lng": -118.3760,
                        "full_address": "1 Main St, Apt 4",
                    },
                    "pickup_ready_at": "2026-12-01T17:30:00Z",
                    "dropoff_window": {
                        "start_at": "2026-12-01T18:00:00Z",
                        "end_at": "2026-12-01T18:30:00Z",
                    },
                },
            ]
        }
    )


class ServiceabilityCheck(Request):
    pickup: LocationIn
    dropoff: LocationIn

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "pickup": {
                        "lat": 34.0901,
                        "lng": -118.3617,
                        "full_address": "8500 Sunset Blvd",
                    },
                    "dropoff": {
                        "lat": 34.0522,
                        "lng": -118.2437,
                        "full_address": "200 N Spring St",
                    },
                }
            ]
        }
    )


class NotServedRead(BaseModel):
    provider: AttemptProvider
    code: str = Field(
        description="`pickup_outside_service_area`, `dropoff_outside_service_area`, "
        "`beyond_robot_range`, `courier_not_enabled` or `beyond_courier_range`"
    )
    detail: str


class ServiceabilityRead(BaseModel):
    serviceable: bool
    provider: AttemptProvider | None = Field(
        description="Who a quote for this trip would send now; null when nobody can"
    )
    distance_m: int
    service_area_id: str | None
    not_served: list[NotServedRead] = Field(
        description="Why each provider that is not sending cannot take the trip"
    )


class CustomerIn(Request):
    name: Annotated[str, Field(min_length=1, max_length=200, pattern=NO_NUL)]
    phone: Annotated[str, Field(pattern=r"^\+?[0-9][0-9 ().-]{3,30}$", examples=["+13105550100"])]


class DeliveryCreate(Request):
    quote_id: Annotated[
        str, Field(min_length=1, max_length=64, examples=["quo_3hG7kqWm2nP8xR4tV9bC5d"])
    ]
    customer: CustomerIn | None = None
    dropoff_instructions: FreeText | None = None
    undeliverable_action: UndeliverableAction = Field(
        UndeliverableAction.RETURN,
        strict=False,
        description="What becomes of the goods if nobody takes them at the door: `return` to "
        "the pickup (the default), `leave_at_door` or `dispose`",
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "quote_id": "quo_3hG7kqWm2nP8xR4tV9bC5d",
                    "customer": {"name": "Ana Ruiz", "phone": "+13105550100"},
                    "dropoff_instructions": "Ring twice; leave with the concierge.",
                }
            ]
        }
    )


class DeliveryUpdate(Request):
    """Only the fields sent change; `null` clears the customer or the instructions."""

    customer: CustomerIn | None = None
    dropoff_instructions: FreeText | None = None
    order_value_cents: Annotated[int, Field(ge=0, le=100_000_000)] | None = None
    pickup_ready_at: UtcDatetime | None = Field(
        None,
        strict=False,
        description="A new time the order will be ready (null: now); the ETAs follow.",
    )
    undeliverable_action: UndeliverableAction | None = Field(None, strict=False)

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"dropoff_instructions": "Ring twice; the gate code is 4410"}]
        }
    )

    @model_validator(mode="after")
    def _something(self) -> "DeliveryUpdate":
        if not self.model_fields_set:
            raise ValueError("Send at least one field to change")
        if "undeliverable_action" in self.model_fields_set and self.undeliverable_action is None:
            raise ValueError("undeliverable_action cannot be cleared: give one")
        return self


class CancelRequest(Request):
    reason: Annotated[str, Field(max_length=500, pattern=NO_NUL)] | None = None

    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "customer_changed_mind"}]})


class LocationRead(BaseModel):
    id: str
    lat: float
    lng: float
    full_address: str


class Fee(BaseModel):
    amount_cents: int
    currency: str


class WindowRead(BaseModel):
    start_at: datetime | None
    end_at: datetime | None


class QuoteRead(BaseModel):
    id: str
    external_reference_id: str | None
    merchant_id: str
    pickup: LocationRead
    dropoff: LocationRead
    provider: AttemptProvider
    fee: Fee
    distance_m: int
    service_area_id: str | None
    order_value_cents: int | None
    pickup_ready_at: datetime | None
    dropoff_window: WindowRead | None
    pickup_eta: datetime
    dropoff_eta: datetime
    expires_at: datetime
    used_by_delivery_id: str | None
    created_at: datetime
    # What the promised times add to the fleet model's estimate: stored, never shown.
    _margins: Margins = PrivateAttr(default=NO_MARGINS)


class AttemptRead(BaseModel):
    id: str
    sequence: int
    provider: AttemptProvider
    network: str | None = Field(
        description="Who carried the attempt: `sidewalk` for the platform's robots, else the "
        "courier network (`doordash`, `uber`, `simulated`)"
    )
    status: AttemptStatus
    provider_id: str | None
    failure_reason: str | None
    status_times: dict[str, datetime]
    created_at: datetime


class Position(BaseModel):
    lat: float
    lng: float
    at: datetime


class Customer(BaseModel):
    name: str
    phone: str


class HandoverRead(BaseModel):
    at: datetime
    lat: float | None
    lng: float | None
    by: AttemptProvider
    proof: Literal["pin", "pilot", "photo", "signature", "none"] = Field(
        description="`pin`: the customer's PIN opened the robot (or was checked by the "
        "courier); `pilot`: a remote pilot opened it after checking the customer; `photo` or "
        "`signature`: the courier's, at `proof_url`; `none`: no proof was given"
    )
    proof_url: str | None


class UndeliverableRead(BaseModel):
    action_taken: Literal["returned", "left_at_door", "disposed"]
    reason: str
    at: datetime


class DeliveryRead(BaseModel):
    id: str
    quote_id: str
    merchant_id: str
    external_reference_id: str | None
    status: DeliveryStatus
    partner_id: str | None
    latest_attempt_id: str | None
    provider: AttemptProvider | None
    attempts: list[AttemptRead]
    courier_location: Position | None
    status_times: dict[str, datetime]
    pickup: LocationRead
    dropoff: LocationRead
    fee: Fee
    pickup_ready_at: datetime | None
    dropoff_window: WindowRead | None
    pickup_eta: datetime
    dropoff_eta: datetime
    customer: Customer | None
    dropoff_instructions: str | None
    order_value_cents: int | None
    unlock_pin: str | None = Field(
        description="Tell it to the customer: it opens the robot's compartment at the door "
        "(the tracking page shows it too)"
    )
    handover: HandoverRead | None = Field(description="How the goods were handed over")
    undeliverable_action: UndeliverableAction
    undeliverable: UndeliverableRead | None = Field(
        description="Nobody took the goods at the door: why, and what was done with them"
    )
    cancel_reason: str | None
    cancel_status: CancelStatus | None = Field(
        description="Where your cancel stands: `requested` until the robot's operator answers, "
        "then `accepted` (cancelled, or the goods come back) or `too_late` (already handed "
        "over); null when you did not cancel"
    )
    failure_reason: str | None
    tracking_url: str
    created_at: datetime
    updated_at: datetime


class DeliveryPage(BaseModel):
    data: list[DeliveryRead]
    has_more: bool
    next_cursor: str | None = Field(description="Pass as `cursor` to get the next page.")


class DeliveryEventRead(BaseModel):
    id: str
    type: str
    occurred_at: datetime
    data: dict[str, Any]


class DeliveryEvents(BaseModel):
    delivery_id: str
    data: list[DeliveryEventRead]


class AreaProperties(BaseModel):
    id: str
    name: str


class Geometry(BaseModel):
    type: Literal["Polygon", "MultiPolygon"]
    coordinates: list[Any] = Field(description="GeoJSON coordinates, [lng, lat] pairs")


class ServiceAreaFeature(BaseModel):
    type: Literal["Feature"]
    id: str
    properties: AreaProperties
    geometry: Geometry


class ServiceAreaCollection(BaseModel):
    """GeoJSON FeatureCollection (RFC 7946)."""

    type: Literal["FeatureCollection"]
    features: list[ServiceAreaFeature]
