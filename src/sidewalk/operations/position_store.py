"""The SQL of the fleet's readings: a whole flush written by one statement executed for many
rows, and the robots' state read back, both as driver statements. A fleet of thousands
flushes thousands of rows a second; SQLAlchemy's per-row parameter processing (the datetime
conversions above all) cost more than the database did, so the rows are built here in the
form each driver takes as is."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Connection, Dialect, Table, bindparam, case, or_, update

from sidewalk.kernel.db import driver_time, stored_utc
from sidewalk.operations.domain import RobotState
from sidewalk.operations.models import Robot

if TYPE_CHECKING:  # a view is what this module writes; positions.py holds the views
    from sidewalk.operations.positions import RobotView

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


# The parameters of `WRITE_READING`, in the order each row's values are built.
_PARAMETERS = ("b_serial", "b_lat", "b_lng", "b_battery_pct", "b_area_id", "b_reading_at", "b_seen")


def write_readings(connection: Connection, views: Iterable["RobotView"]) -> None:
    """Write each robot's reading unless a newer one is stored already."""
    s = _statements(connection.dialect)
    rows = (
        (
            v.serial,
            v.lat,
            v.lng,
            v.battery_pct,
            v.area_id,
            driver_time(v.reading_at, sqlite=s.sqlite),
            driver_time(v.last_seen_at, sqlite=s.sqlite),
        )
        for v in views
    )
    if s.order is None:
        named = [dict(zip(_PARAMETERS, row, strict=True)) for row in rows]
        connection.exec_driver_sql(s.write, named)
    else:
        at = [_PARAMETERS.index(name) for name in s.order]
        connection.exec_driver_sql(s.write, [tuple(row[i] for i in at) for row in rows])


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
    values["state_changed_at"] = stored_utc(values["state_changed_at"])
    return values
