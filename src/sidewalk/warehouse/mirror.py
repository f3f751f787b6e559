"""What the warehouse mirrors of the two services, table by table: the columns kept (secrets
and customers' personal details stay in the services), the key a row is replaced by, and the
change time a sync reads onward from.

Tables that rows are only ever added to read on from their creation time; tables whose rows
change read on from the time they last changed, which every use case sets. A link without a
time of its own (`delivery_attempts`) reads on from its attempt's creation."""

from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy import JSON, Boolean, Date, DateTime, Float, Integer, Numeric, Table
from sqlalchemy.types import TypeEngine

from sidewalk.deliveries import models as deliveries_models
from sidewalk.deliveries.domain import AttemptStatus, DeliveryStatus
from sidewalk.kernel.db import UTCDateTime
from sidewalk.operations import models as operations_models
from sidewalk.operations.domain import TaskStatus, TripStatus

DELIVERIES, OPERATIONS = "deliveries", "operations"
CURRENT, CONFIG, EVENTS = "deliveries_v3", "config", "events"


# What an event's payload may say of a customer (and the secret that opens the robot for
# them): the warehouse keeps the event without it.
PERSONAL_PAYLOAD = frozenset({"customer", "dropoff_instructions", "unlock_pin"})


@dataclass(frozen=True)
class Mirrored:
    """One warehouse table filled from one service table."""

    schema: str
    name: str
    service: str
    source: str  # the service's table
    key: tuple[str, ...]
    changed: str  # SQL over the source table: when a row last changed
    leave_out: frozenset[str] = field(default_factory=frozenset)
    # Text columns with one value for every row of this source (which service it came from).
    constants: tuple[tuple[str, str], ...] = ()
    # Columns computed from the row's own as it is merged: (name, SQL type, SQL expression).
    derived: tuple[tuple[str, str, str], ...] = ()
    # A JSON column holding an event envelope, and the payload fields taken out of it on the
    # way (whom to hand the goods to, the PIN that opens the robot).
    scrubbed: tuple[str, frozenset[str]] | None = None

    @property
    def watermark(self) -> str:
        """The name the sync keeps this source's progress under."""
        return f"{self.service}.{self.source}"

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    def table(self) -> Table:
        metadata = (
            deliveries_models.Base.metadata
            if self.service == DELIVERIES
            else operations_models.Base.metadata
        )
        return metadata.tables[self.source]

    def columns(self) -> list[tuple[str, str, bool]]:
        """(name, warehouse SQL type, is JSON) of every column kept, in the source's order."""
        return [(name, "TEXT", False) for name, _ in self.constants] + [
            (c.name, warehouse_type(c.type), isinstance(c.type, JSON))
            for c in self.table().columns
            if c.name not in self.leave_out
        ]


def status_times(statuses: type[StrEnum]) -> tuple[tuple[str, str, str], ...]:
    """`<status>_at` columns from a row's `status_times` (JSON text: status → ISO time), so
    that a query pattern reads when things happened without parsing JSON on every run."""
    return tuple(
        (
            f"{s.value}_at",
            "TIMESTAMPTZ",
            f"CAST(CAST(status_times AS JSON) ->> '{s.value}' AS TIMESTAMPTZ)",
        )
        for s in statuses
    )


def warehouse_type(source: TypeEngine[object]) -> str:
    """The one SQL type both DuckDB and PostgreSQL take for a service column: times with their
    zone, money as the integer cents it already is, enums and JSON as text."""
    if isinstance(source, UTCDateTime | DateTime):
        return "TIMESTAMPTZ"
    if isinstance(source, Date):
        return "DATE"
    if isinstance(source, Boolean):
        return "BOOLEAN"
    if isinstance(source, Integer):
        return "BIGINT"
    if isinstance(source, Float):
        return "DOUBLE PRECISION"
    if isinstance(source, Numeric):
        return "NUMERIC"
    return "TEXT"


MIRRORED: tuple[Mirrored, ...] = (
    # --- what is happening: deliveries and the robots' work -----------------------------------
    Mirrored(CURRENT, "locations", DELIVERIES, "locations", ("id",), "created_at"),
    Mirrored(
        CURRENT,
        "quotes",
        DELIVERIES,
        "quotes",
        ("id",),
        "created_at",
        # Set when a delivery takes the quote: `deliveries.quote_id` says the same.
        leave_out=frozenset({"used_by_delivery_id"}),
    ),
    Mirrored(
        CURRENT,
        "deliveries",
        DELIVERIES,
        "deliveries",
        ("id",),
        "updated_at",
        leave_out=frozenset(
            {
                "customer_name",
                "customer_phone",
                "dropoff_instructions",
                "tracking_token",
                "unlock_pin",
                "handover",
                "location_told_at",
            }
        ),
        derived=status_times(DeliveryStatus),
    ),
    Mirrored(
        CURRENT,
        "attempts",
        DELIVERIES,
        "attempts",
        ("id",),
        "updated_at",
        derived=status_times(AttemptStatus),
    ),
    Mirrored(
        CURRENT,
        "delivery_attempts",
        DELIVERIES,
        "delivery_attempts",
        ("delivery_id", "attempt_id"),
        "(SELECT a.created_at FROM attempts a WHERE a.id = delivery_attempts.attempt_id)",
    ),
    Mirrored(CURRENT, "delivery_events", DELIVERIES, "delivery_events", ("id",), "occurred_at"),
    Mirrored(
        CURRENT,
        "webhook_messages",
        DELIVERIES,
        "webhook_messages",
        ("id",),
        # A message changes when it is tried and when it ends, each later than the last.
        "COALESCE(finished_at, last_attempt_at, created_at)",
        leave_out=frozenset({"body", "lease_id"}),
    ),
    Mirrored(CURRENT, "webhook_attempts", DELIVERIES, "webhook_attempts", ("seq",), "attempted_at"),
    Mirrored(
        CURRENT,
        "tasks",
        OPERATIONS,
        "tasks",
        ("id",),
        "updated_at",
        leave_out=frozenset({"unlock_pin"}),  # the PIN that opens the robot for the customer
        derived=status_times(TaskStatus),
    ),
    Mirrored(
        CURRENT,
        "trips",
        OPERATIONS,
        "trips",
        ("id",),
        "updated_at",
        derived=status_times(TripStatus),
    ),
    Mirrored(CURRENT, "state_history", OPERATIONS, "state_history", ("serial", "date"), "date"),
    Mirrored(
        CURRENT,
        "pilot_assignments",
        OPERATIONS,
        "pilot_assignments",
        ("id",),
        "COALESCE(released_at, assigned_at)",
    ),
    Mirrored(CURRENT, "alert_acks", OPERATIONS, "alert_acks", ("alert_id",), "acknowledged_at"),
    # --- everything that happened: both services' domain events -------------------------------
    *(
        Mirrored(
            EVENTS,
            "domain_events",
            service,
            f"{service}_outbox",
            ("event_id",),
            "occurred_at",
            leave_out=frozenset({"published_at"}),
            constants=(("service", service),),
            scrubbed=("envelope", PERSONAL_PAYLOAD),
        )
        for service in (DELIVERIES, OPERATIONS)
    ),
    # --- and every API request, from each service's request log ------------------------------
    *(
        Mirrored(
            EVENTS,
            "api_requests",
            service,
            f"{service}_api_requests",
            ("service", "seq"),
            "at",
            constants=(("service", service),),
        )
        for service in (DELIVERIES, OPERATIONS)
    ),
    # --- how things are set up ----------------------------------------------------------------
    Mirrored(CONFIG, "merchants", DELIVERIES, "merchants", ("id",), "updated_at"),
    Mirrored(
        CONFIG,
        "webhook_endpoints",
        DELIVERIES,
        "webhook_endpoints",
        ("id",),
        "updated_at",
        leave_out=frozenset({"secret"}),
    ),
    Mirrored(CONFIG, "hubs", OPERATIONS, "hubs", ("id",), "created_at"),
    Mirrored(
        CONFIG,
        "robots",
        OPERATIONS,
        "robots",
        ("serial",),
        "updated_at",
        leave_out=frozenset({"token_digest"}),
    ),
    Mirrored(
        CONFIG,
        "operators",
        OPERATIONS,
        "operators",
        ("id",),
        "updated_at",
        leave_out=frozenset({"token_digest", "email"}),
    ),
)
