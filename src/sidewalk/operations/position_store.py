"""The SQL of the fleet's readings: a whole flush written by one statement executed for many
rows, and the robots' state read back, both as driver statements. A fleet of thousands
flushes thousands of rows a second; SQLAlchemy's per-row parameter processing (the datetime
conversions above all) cost more than the database did, so the rows are built here in the
form each driver takes as is."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any, Protocol, cast

from sqlalchemy import Connection, Dialect, Table, bindparam, case, or_, update

from sidewalk.operations.domain import RobotState
from sidewalk.operations.models import Robot

_robots = cast(Table, Robot.__table__)


def _if_newer(column: str) -> Any:
    """The reading's value where it was taken after the one kept, whoever wrote that one;
    else the value kept."""
    kept, target = _robots.c.reading_at, _robots.c[column]
    newer = or_(kept.is_(None), kept <= bindparam("b_reading_at"))
    return case((newer, bindparam(f"b_{column}", type_=target.type)), else_=target)


_seen = _robots.c.last_seen_at
# One statement per robot for the whole reading: every expression sees the row as it was.
WRITE_READING = (
    update(_robots)
    .where(_robots.c.serial == bindparam("b_serial"))
    .values(
        lat=_if_newer("lat"),
        lng=_if_newer("lng"),
        battery_pct=_if_newer("battery_pct"),
        area_id=_if_newer("area_id"),
        reading_at=_if_newer("reading_at"),
        last_seen_at=case(
            (
                or_(_seen.is_(None), _seen < bindparam("b_seen")),
                bindparam("b_seen", type_=_seen.type),
            ),
            else_=_seen,
        ),
        updated_at=bindparam("b_seen"),
    )
)

# What may change in the database under a view (by another use case or process).
REFRESHED = (
    "display_name",
    "state",
    "hub_id",
    "speed_mps",
    "battery_low_pct",
    "battery_reserve_pct",
    "drain_pct_per_km",
    "state_changed_at",
)


class HeldReading(Protocol):
    """A robot's newest reading, as a process holds it (its view)."""

    @property
    def serial(self) -> str: ...
    @property
    def lat(self) -> float | None: ...
    @property
    def lng(self) -> float | None: ...
    @property
    def battery_pct(self) -> float | None: ...
    @property
    def area_id(self) -> str | None: ...
    @property
    def reading_at(self) -> datetime | None: ...
    @property
    def last_seen_at(self) -> datetime | None: ...


@dataclass(frozen=True)
class _Statements:
    write: str
    order: tuple[str, ...] | None  # positional drivers: the parameters' order
    read_back: str
    sqlite: bool


@cache
def _statements(dialect: Dialect) -> _Statements:
    compiled = WRITE_READING.compile(dialect=dialect)
    sqlite = dialect.name == "sqlite"
    columns = ", ".join(("serial", *REFRESHED))
    where = "serial IN ({})" if sqlite else "serial = ANY(%(serials)s)"
    return _Statements(
        compiled.string,
        tuple(compiled.positiontup) if compiled.positiontup else None,
        f"SELECT {columns} FROM robots WHERE {where}",
        sqlite,
    )


def _stored_time(at: datetime | None, sqlite: bool) -> Any:
    """A time as the table stores it: on SQLite naive UTC text with microseconds always
    written (as `UTCDateTime` stores it), aware elsewhere."""
    if at is None or not sqlite:
        return at
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def write_readings(connection: Connection, readings: Iterable[HeldReading]) -> None:
    """Write each robot's reading unless a newer one is stored already."""
    s = _statements(connection.dialect)
    rows = [
        {
            "b_serial": r.serial,
            "b_lat": r.lat,
            "b_lng": r.lng,
            "b_battery_pct": r.battery_pct,
            "b_area_id": r.area_id,
            "b_reading_at": _stored_time(r.reading_at, s.sqlite),
            "b_seen": _stored_time(r.last_seen_at, s.sqlite),
        }
        for r in readings
    ]
    if s.order is None:
        connection.exec_driver_sql(s.write, rows)
    else:
        order = s.order
        connection.exec_driver_sql(s.write, [tuple(row[name] for name in order) for row in rows])


StoredRow = tuple[Any, ...]  # serial, then REFRESHED, as the driver returned them


def stored_rows(connection: Connection, serials: Sequence[str]) -> list[StoredRow]:
    """The robots' `REFRESHED` columns as stored, untouched by any conversion: rows to
    compare with the ones read before, and to convert (`refreshed`) only where they differ."""
    s = _statements(connection.dialect)
    if s.sqlite:
        sql = s.read_back.format(", ".join("?" * len(serials)))
        result = connection.exec_driver_sql(sql, tuple(serials))
    else:
        result = connection.exec_driver_sql(s.read_back, {"serials": list(serials)})
    return [tuple(row) for row in result]


def refreshed(row: StoredRow) -> dict[str, Any]:
    """A stored row's `REFRESHED` values as a view holds them."""
    values = dict(zip(REFRESHED, row[1:], strict=True))
    values["state"] = RobotState(values["state"])
    changed_at = values["state_changed_at"]
    if isinstance(changed_at, str):
        changed_at = datetime.fromisoformat(changed_at)
    values["state_changed_at"] = (
        changed_at.replace(tzinfo=UTC) if changed_at.tzinfo is None else changed_at.astimezone(UTC)
    )
    return values
