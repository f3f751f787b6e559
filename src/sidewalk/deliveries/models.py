"""The deliveries database: its tables, mapped with SQLAlchemy 2. Only this service reads them."""

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from sidewalk.deliveries.domain import (
    AttemptProvider,
    AttemptStatus,
    CourierStatus,
    DeliveryStatus,
)
from sidewalk.deliveries.webhook_domain import EndpointStatus, MessageStatus
from sidewalk.kernel.audit import audit_table
from sidewalk.kernel.db import UTCDateTime, new_metadata, text_enum
from sidewalk.kernel.dead_letters import dead_letter_table
from sidewalk.kernel.outbox import inbox_table, outbox_table


class Base(DeclarativeBase):
    metadata = new_metadata()
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


# The events this service tells the other, written in the transaction of their change, and the
# ids of the events it has handled (see `kernel.outbox`).
OUTBOX = outbox_table(Base.metadata, "deliveries")
INBOX = inbox_table(Base.metadata, "deliveries")
DEAD_LETTERS = dead_letter_table(Base.metadata, "deliveries")
# Who called the merchant API, what for and when (see `kernel.audit`).
API_REQUESTS = audit_table(Base.metadata, "deliveries")


class Merchant(Base):
    __tablename__ = "merchants"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    partner_id: Mapped[str | None] = mapped_column(String(100))
    currency: Mapped[str] = mapped_column(String(3))
    base_fee_cents: Mapped[int] = mapped_column(Integer)
    fee_per_km_cents: Mapped[int] = mapped_column(Integer)
    courier_base_fee_cents: Mapped[int] = mapped_column(Integer)
    courier_fee_per_km_cents: Mapped[int] = mapped_column(Integer)
    max_robot_distance_m: Mapped[int] = mapped_column(Integer)
    courier_fallback: Mapped[bool] = mapped_column(Boolean)
    quote_lifetime_s: Mapped[int] = mapped_column(Integer)
    # At most this many attempts per delivery, robots' and couriers' together.
    max_attempts: Mapped[int] = mapped_column(Integer, server_default="3")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (
        CheckConstraint("base_fee_cents >= 0 AND fee_per_km_cents >= 0", name="fees_not_negative"),
        CheckConstraint("quote_lifetime_s > 0", name="quote_lifetime_positive"),
        CheckConstraint("max_attempts BETWEEN 1 AND 10", name="max_attempts_in_range"),
    )


class ApiKey(Base):
    """A merchant's API key, kept only as a SHA-256 digest (the key has 256 random bits, so
    a fast digest is as safe as a slow one and lets every request be checked quickly)."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class Location(Base):
    __tablename__ = "locations"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    lat: Mapped[float] = mapped_column(Float)
    lng: Mapped[float] = mapped_column(Float)
    full_address: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]

    __table_args__ = (
        CheckConstraint("lat BETWEEN -90 AND 90", name="lat_range"),
        CheckConstraint("lng BETWEEN -180 AND 180", name="lng_range"),
        # The `_changed` indexes serve the warehouse's incremental reads.
        Index("ix_locations_changed", "created_at", "id"),
    )


class Quote(Base):
    __tablename__ = "quotes"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    external_reference_id: Mapped[str | None] = mapped_column(String(200))
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    pickup_location_id: Mapped[str] = mapped_column(ForeignKey("locations.id"))
    dropoff_location_id: Mapped[str] = mapped_column(ForeignKey("locations.id"))
    provider: Mapped[AttemptProvider] = mapped_column(
        text_enum(AttemptProvider, "attempt_provider")
    )
    fee_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    distance_m: Mapped[int] = mapped_column(Integer)
    service_area_id: Mapped[str | None] = mapped_column(String(100))
    order_value_cents: Mapped[int | None] = mapped_column(Integer)
    pickup_eta: Mapped[datetime]
    dropoff_eta: Mapped[datetime]
    # What the promised times add to the fleet model's estimate, calibrated on the promises
    # kept lately (`deliveries.promises`): the estimate is the promise less its margin.
    pickup_margin_s: Mapped[int] = mapped_column(Integer, server_default="0")
    dropoff_margin_s: Mapped[int] = mapped_column(Integer, server_default="0")
    expires_at: Mapped[datetime]
    used_by_delivery_id: Mapped[str | None] = mapped_column(String(40), unique=True)
    created_at: Mapped[datetime]
    # The schedule asked for (None: as soon as possible); `pickup_eta` and `dropoff_eta` are
    # the times planned for it, and a scheduled attempt is sent for `pickup_eta`.
    pickup_ready_at: Mapped[datetime | None]
    dropoff_after: Mapped[datetime | None]
    dropoff_before: Mapped[datetime | None]

    pickup: Mapped[Location] = relationship(foreign_keys=[pickup_location_id], lazy="raise")
    dropoff: Mapped[Location] = relationship(foreign_keys=[dropoff_location_id], lazy="raise")

    __table_args__ = (
        Index("ix_quotes_merchant_created", "merchant_id", "created_at"),
        Index("ix_quotes_changed", "created_at", "id"),
        # The deliveries whose window is ending, found by the schedule keeper.
        Index("ix_quotes_dropoff_before", "dropoff_before"),
        CheckConstraint("fee_cents >= 0", name="fee_not_negative"),
    )


class Attempt(Base):
    """One try at carrying a delivery out, by one provider. `provider_id` is the provider's
    own reference: the operations task id for a robot, the courier network's job id;
    `network` who carried it (`sidewalk` for the platform's robots, else the courier
    network's name; unknown for courier attempts older than the column)."""

    __tablename__ = "attempts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    provider: Mapped[AttemptProvider] = mapped_column(
        text_enum(AttemptProvider, "attempt_provider")
    )
    status: Mapped[str] = mapped_column(text_enum(AttemptStatus, "attempt_status"))
    provider_id: Mapped[str | None] = mapped_column(String(100))
    network: Mapped[str | None] = mapped_column(String(40))
    status_times: Mapped[dict[str, Any]]
    failure_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (Index("ix_attempts_changed", "updated_at", "id"),)


class DeliveryAttempt(Base):
    """The ordered list of a delivery's attempts (the diagram's DeliveryAttempts)."""

    __tablename__ = "delivery_attempts"

    delivery_id: Mapped[str] = mapped_column(ForeignKey("deliveries.id"), primary_key=True)
    attempt_id: Mapped[str] = mapped_column(ForeignKey("attempts.id"), primary_key=True)
    sequence: Mapped[int] = mapped_column(Integer)

    attempt: Mapped[Attempt] = relationship(lazy="raise")

    __table_args__ = (
        UniqueConstraint("delivery_id", "sequence"),
        UniqueConstraint("attempt_id"),
        CheckConstraint("sequence >= 1", name="sequence_positive"),
    )


class Delivery(Base):
    __tablename__ = "deliveries"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    quote_id: Mapped[str] = mapped_column(ForeignKey("quotes.id"), unique=True)
    latest_attempt_id: Mapped[str | None] = mapped_column(ForeignKey("attempts.id"))
    partner_id: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(text_enum(DeliveryStatus, "delivery_status"))
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    external_reference_id: Mapped[str | None] = mapped_column(String(200))
    status_times: Mapped[dict[str, Any]]
    customer_name: Mapped[str | None] = mapped_column(String(200))
    customer_phone: Mapped[str | None] = mapped_column(String(32))
    dropoff_instructions: Mapped[str | None] = mapped_column(Text)
    tracking_token: Mapped[str] = mapped_column(String(64), unique=True)
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    failure_reason: Mapped[str | None] = mapped_column(Text)
    courier_lat: Mapped[float | None] = mapped_column(Float)
    courier_lng: Mapped[float | None] = mapped_column(Float)
    courier_seen_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # What the customer types on the robot to open its compartment (and may tell a courier).
    unlock_pin: Mapped[str | None] = mapped_column(String(8))
    # How the goods were handed over: when, where, by whom, with what proof.
    handover: Mapped[dict[str, Any] | None]
    # What to do with goods nobody takes at the door (`UndeliverableAction`), and what was done.
    undeliverable_action: Mapped[str] = mapped_column(
        String(16), default="return", server_default="return"
    )
    undeliverable: Mapped[dict[str, Any] | None]
    # When merchants were last told where the robot or courier is (see `LOCATION_EVENT`).
    location_told_at: Mapped[datetime | None]

    quote: Mapped[Quote] = relationship(lazy="raise")
    # Declared so that a flush inserts the attempt before the delivery that points at it.
    _latest_attempt_row: Mapped[Attempt | None] = relationship(lazy="raise")
    attempt_links: Mapped[list[DeliveryAttempt]] = relationship(
        lazy="raise", order_by=DeliveryAttempt.sequence
    )

    @property
    def latest_attempt(self) -> Attempt | None:
        """The attempt `latest_attempt_id` names, from the attempts loaded with the delivery:
        the one way to it."""
        return next(
            (
                link.attempt
                for link in self.attempt_links
                if link.attempt_id == self.latest_attempt_id
            ),
            None,
        )

    __table_args__ = (
        Index("ix_deliveries_merchant_created", "merchant_id", "created_at", "id"),
        Index("ix_deliveries_merchant_status", "merchant_id", "status"),
        Index("ix_deliveries_merchant_ref", "merchant_id", "external_reference_id"),
        Index("ix_deliveries_changed", "updated_at", "id"),
    )


class DeliveryEvent(Base):
    """The timeline of a delivery: what happened to it and its attempts, in order."""

    __tablename__ = "delivery_events"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(40), unique=True)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("deliveries.id"), index=True)
    type: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime]
    data: Mapped[dict[str, Any]]

    # Declared so that a flush inserts the delivery before its events.
    delivery: Mapped["Delivery"] = relationship(lazy="raise")

    __table_args__ = (Index("ix_delivery_events_changed", "occurred_at"),)


class IdempotencyRecord(Base):
    """The answer given to a merchant's `Idempotency-Key`, replayed for the same request."""

    __tablename__ = "idempotency_keys"

    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class PromiseOutcome(Base):
    """How far a delivered order's times fell from the fleet model's estimate at its quote
    (seconds, later positive): the recent ones calibrate the margins of new promises. Only
    orders for as soon as possible, carried by their first attempt with the quoted provider."""

    __tablename__ = "promise_outcomes"

    delivery_id: Mapped[str] = mapped_column(ForeignKey("deliveries.id"), primary_key=True)
    provider: Mapped[AttemptProvider] = mapped_column(
        text_enum(AttemptProvider, "attempt_provider")
    )
    service_area_id: Mapped[str | None] = mapped_column(String(100))
    delivered_at: Mapped[datetime]
    # None when the pickup was not seen reached (a network that skipped telling it).
    pickup_error_s: Mapped[float | None] = mapped_column(Float)
    dropoff_error_s: Mapped[float] = mapped_column(Float)

    __table_args__ = (Index("ix_promise_outcomes_recent", "provider", "delivered_at"),)


class FleetSnapshot(Base):
    """The newest state of one service area's fleet, as the operations service told it
    (`fleet.snapshot` events): what robot quote ETAs are priced from."""

    __tablename__ = "fleet_snapshots"

    area_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    taken_at: Mapped[datetime]
    # Rows of [lat, lng, free_in_s, speed_mps]: where each robot able to take work will be free.
    robots: Mapped[list[list[float]]] = mapped_column(JSON)
    pending: Mapped[int] = mapped_column(Integer)
    received_at: Mapped[datetime]


class WebhookEndpoint(Base):
    """Where a merchant wants its status webhooks, for which event types. `secret` is the HMAC
    key every message is signed with (`whsec_…`): a signing key, not a password, so it is kept
    as it is (a digest could not sign); it is shown to the merchant only once."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str | None] = mapped_column(String(500))
    events: Mapped[list[str]] = mapped_column(JSON)
    secret: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(text_enum(EndpointStatus, "webhook_endpoint_status"))
    disabled_at: Mapped[datetime | None]
    disabled_reason: Mapped[str | None] = mapped_column(String(200))
    deleted_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (
        # The merchant's endpoints, found on every status change and listed in this order.
        Index("ix_webhook_endpoints_merchant_created", "merchant_id", "created_at", "id"),
    )


class WebhookMessage(Base):
    """One event for one endpoint: its body, signed anew on each attempt under the same id
    (`msg_…`), and its retry schedule, kept here so that a restarted sender resumes it.
    `lease_id` names the sender that claimed it; `next_attempt_at` is pushed past the lease
    meanwhile, so a sender that dies mid-send leaves it due again once the lease runs out."""

    __tablename__ = "webhook_messages"

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    id: Mapped[str] = mapped_column(String(40), unique=True)
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id"))
    delivery_id: Mapped[str] = mapped_column(ForeignKey("deliveries.id"))
    event_type: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(text_enum(MessageStatus, "webhook_message_status"))
    attempts: Mapped[int] = mapped_column(Integer)
    first_attempt_at: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime | None]
    lease_id: Mapped[str | None] = mapped_column(String(40))
    last_attempt_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(200))
    finished_at: Mapped[datetime | None]
    created_at: Mapped[datetime]

    __table_args__ = (
        # The senders' question: which pending messages are due, soonest first.
        Index("ix_webhook_messages_due", "status", "next_attempt_at"),
        # An endpoint's delivery log, newest first, paged by (created_at, seq).
        Index("ix_webhook_messages_endpoint_created", "endpoint_id", "created_at", "seq"),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
    )


class WebhookAttempt(Base):
    """One POST of a message: when, how the receiver answered (or the error), how long."""

    __tablename__ = "webhook_attempts"

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    message_id: Mapped[str] = mapped_column(ForeignKey("webhook_messages.id"))
    attempted_at: Mapped[datetime]
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(200))
    duration_ms: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_webhook_attempts_message", "message_id", "seq"),)


class CourierSimJob(Base):
    """A job of the simulated courier network. It stands in for another company's system, so
    nothing but `providers.simulated_courier` reads it. `plan` is the job's whole timeline,
    drawn when it was created (and redrawn by a cancel); `pushed` counts the steps already
    pushed as updates, and `next_at` is when the next one is due (None once all are)."""

    __tablename__ = "courier_sim_jobs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    external_id: Mapped[str] = mapped_column(String(100), unique=True)
    status: Mapped[str] = mapped_column(text_enum(CourierStatus, "courier_status"))
    request: Mapped[dict[str, Any]]
    plan: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    pushed: Mapped[int] = mapped_column(Integer)
    next_at: Mapped[datetime | None] = mapped_column(index=True)
    fee_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    pickup_eta: Mapped[datetime]
    dropoff_eta: Mapped[datetime]
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
