"""What the deliveries service tells: an attempt to carry out, changed, or to stop. Operations
reads the robots' attempts, the deliveries service's own couriers side the couriers'."""

from typing import ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from sidewalk.kernel.contracts.base import Contract

Provider = Literal["robot", "courier"]
UndeliverableAction = Literal["return", "leave_at_door", "dispose"]


class Place(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    lat: float = Field(ge=-90, le=90)
    lng: float = Field(ge=-180, le=180)
    full_address: str


class Customer(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str
    phone: str


class AttemptEvent(Contract):
    """An event about one attempt of one delivery."""

    SOURCE: ClassVar = "deliveries"
    SUBJECT: ClassVar = ("delivery_id", "attempt_id")

    delivery_id: str = Field(min_length=1, description="the delivery")
    attempt_id: str = Field(min_length=1, description="the attempt")
    provider: Provider = Field(description="who is to carry the attempt out")


class AttemptPlan(AttemptEvent):
    """What an attempt's provider is to carry out, as it stands."""

    merchant_id: str = Field(description="the merchant who ordered")
    pickup: Place = Field(description="where the goods are taken")
    dropoff: Place = Field(description="where they are handed over")
    dropoff_instructions: str | None = Field(None, description="for whoever is at the door")
    customer: Customer | None = Field(None, description="the recipient")
    order_value_cents: int | None = Field(None, ge=0, description="the goods' value")
    currency: str = Field(min_length=3, max_length=3, description="of the value, ISO 4217")
    external_reference_id: str | None = Field(None, description="the merchant's own reference")
    unlock_pin: str | None = Field(
        None, description="what opens the robot's compartment (a courier may ask for it)"
    )
    undeliverable_action: UndeliverableAction = Field(
        "return", description="what becomes of goods nobody takes at the door"
    )
    pickup_at: AwareDatetime | None = Field(
        None, description="a scheduled attempt: when it is wanted at the pickup (null: now)"
    )
    dropoff_before: AwareDatetime | None = Field(
        None, description="the end of the dropoff window (null: none)"
    )
    dropoff_by: AwareDatetime | None = Field(
        None,
        description="the time promised at the door (the quote's `dropoff_eta`), which the "
        "dispatcher weighs: the tasks furthest behind it go first",
    )


class AttemptRequested(AttemptPlan):
    TYPES: ClassVar = ("attempt.requested",)
    WHEN: ClassVar = (
        "a delivery is ordered (its first attempt), or another attempt takes over after one "
        "failed before pickup (the merchant's attempt policy: another robot, a courier)"
    )

    sequence: int = Field(ge=1, description="the attempt's place among the delivery's")


class AttemptUpdated(AttemptPlan):
    TYPES: ClassVar = ("attempt.updated",)
    WHEN: ClassVar = "the merchant changed the delivery (`PATCH`): the attempt as it now stands"


class AttemptCancelRequested(AttemptEvent):
    TYPES: ClassVar = ("attempt.cancel_requested",)
    WHEN: ClassVar = (
        "the merchant cancels: a robot's attempt is asked to stop and the operations service "
        "decides from the task where the goods are (at the pickup: the task is cancelled; on "
        "board: the robot brings them back; handed over or the compartment opened: nothing, "
        "too late); or the dropoff window ended before pickup (`reason` "
        "`dropoff_window_missed`)"
    )

    reason: str = Field("cancelled", description="why, in the merchant's words or ours")
    goods_on_board: bool | None = Field(
        None, description="set when the deliveries service ended the attempt itself"
    )
