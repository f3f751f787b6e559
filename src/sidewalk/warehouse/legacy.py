"""The older flat system's deliveries, imported from its CSV export into `deliveries_legacy`,
and one view of legacy and current deliveries in the same shape.

A file goes in whole or not at all, in one warehouse transaction, and only once: its SHA-256
is remembered, so importing it again adds nothing. The format: docs/warehouse-imports.md."""

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from sidewalk.kernel.ids import new_id
from sidewalk.warehouse.legacy_format import (
    COLUMNS,
    Accepted,
    LegacyFileError,
    Reject,
    read_legacy_file,
)
from sidewalk.warehouse.sync import create_mirror_tables
from sidewalk.warehouse.target import Warehouse

__all__ = ["LEGACY", "LegacyFileError", "LegacyImport", "create_legacy_tables", "import_legacy"]

LEGACY = "deliveries_legacy"


def create_legacy_tables(warehouse: Warehouse) -> None:
    """The legacy schema, its tables and the view uniting legacy and current deliveries."""
    create_mirror_tables(warehouse)
    warehouse.execute(f"CREATE SCHEMA IF NOT EXISTS {LEGACY}")
    warehouse.execute(
        f"CREATE TABLE IF NOT EXISTS {LEGACY}.imports ("
        "id TEXT PRIMARY KEY, file_name TEXT NOT NULL, sha256 TEXT NOT NULL UNIQUE, "
        "imported_at TIMESTAMPTZ NOT NULL, added BIGINT NOT NULL, rejected BIGINT NOT NULL)"
    )
    warehouse.execute(
        f"CREATE TABLE IF NOT EXISTS {LEGACY}.deliveries ("
        "order_id TEXT PRIMARY KEY, merchant_name TEXT NOT NULL, "
        "pickup_address TEXT, pickup_lat DOUBLE PRECISION, pickup_lng DOUBLE PRECISION, "
        "dropoff_address TEXT, dropoff_lat DOUBLE PRECISION, dropoff_lng DOUBLE PRECISION, "
        "created_at TIMESTAMPTZ NOT NULL, picked_up_at TIMESTAMPTZ, delivered_at TIMESTAMPTZ, "
        "final_status TEXT NOT NULL, robot_name TEXT, import_id TEXT NOT NULL)"
    )
    warehouse.execute(
        f"CREATE TABLE IF NOT EXISTS {LEGACY}.rejects ("
        "import_id TEXT NOT NULL, line_number BIGINT NOT NULL, raw TEXT NOT NULL, "
        "reason TEXT NOT NULL, PRIMARY KEY (import_id, line_number))"
    )
    # Every join is a left one: a delivery shows even while its merchant, quote or places
    # have not reached the warehouse yet (a sync reads the tables one after the other).
    warehouse.execute(
        f"""CREATE OR REPLACE VIEW {LEGACY}.all_deliveries AS
        SELECT 'legacy' AS source, order_id AS delivery_id, merchant_name, created_at,
               picked_up_at, delivered_at, final_status AS status, robot_name,
               pickup_address, pickup_lat, pickup_lng, dropoff_address, dropoff_lat, dropoff_lng
        FROM {LEGACY}.deliveries
        UNION ALL
        SELECT 'current', d.id, m.name, d.created_at, d.enroute_to_dropoff_at, d.delivered_at,
               d.status, r.display_name, p.full_address, p.lat, p.lng,
               o.full_address, o.lat, o.lng
        FROM deliveries_v3.deliveries d
        LEFT JOIN config.merchants m ON m.id = d.merchant_id
        LEFT JOIN deliveries_v3.quotes q ON q.id = d.quote_id
        LEFT JOIN deliveries_v3.locations p ON p.id = q.pickup_location_id
        LEFT JOIN deliveries_v3.locations o ON o.id = q.dropoff_location_id
        LEFT JOIN deliveries_v3.attempts a ON a.id = d.latest_attempt_id AND a.provider = 'robot'
        LEFT JOIN deliveries_v3.tasks t ON t.id = a.provider_id
        LEFT JOIN config.robots r ON r.serial = t.robot_serial"""
    )


@dataclass(frozen=True)
class LegacyImport:
    """What one import did: deliveries added and rows rejected (both 0 for a file imported
    before, which `already_imported` says)."""

    file_name: str
    sha256: str
    added: int
    rejected: int
    already_imported: bool


def import_legacy(warehouse: Warehouse, path: Path | str, *, now: datetime) -> LegacyImport:
    """Import one legacy export: its good rows to `deliveries`, the others to `rejects` with
    their reason, and the file to `imports`. A broken file raises `LegacyFileError` before the
    warehouse is touched."""
    path = Path(path)
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    parsed = read_legacy_file(data)
    create_legacy_tables(warehouse)
    with warehouse.transaction():
        _, found = warehouse.query(
            f"SELECT id FROM {LEGACY}.imports WHERE sha256 = :sha256", {"sha256": digest}
        )
        if found:
            return LegacyImport(path.name, digest, 0, 0, already_imported=True)
        import_id = new_id("imp")
        clashes = _stage_deliveries(warehouse, parsed.deliveries)
        warehouse.execute(
            f"INSERT INTO {LEGACY}.deliveries ({', '.join(COLUMNS)}, import_id) "
            f"SELECT {', '.join(COLUMNS)}, CAST(:import_id AS TEXT) FROM {_DELIVERIES}",
            {"import_id": import_id},
        )
        rejects = sorted([*parsed.rejects, *clashes], key=lambda r: r.line_number)
        reject_rows = [(r.line_number, r.raw, r.reason) for r in rejects]
        warehouse.stage(_REJECTS, _REJECT_COLUMNS, _arrow(_REJECT_COLUMNS, reject_rows))
        warehouse.execute(
            f"INSERT INTO {LEGACY}.rejects (import_id, line_number, raw, reason) "
            f"SELECT CAST(:import_id AS TEXT), line_number, raw, reason FROM {_REJECTS}",
            {"import_id": import_id},
        )
        added = len(parsed.deliveries) - len(clashes)
        warehouse.execute(
            f"INSERT INTO {LEGACY}.imports (id, file_name, sha256, imported_at, added, rejected) "
            "VALUES (:id, :file_name, :sha256, :imported_at, :added, :rejected)",
            {
                "id": import_id,
                "file_name": path.name,
                "sha256": digest,
                "imported_at": now,
                "added": added,
                "rejected": len(rejects),
            },
        )
        warehouse.execute(f"DROP TABLE {_DELIVERIES}")
        warehouse.execute(f"DROP TABLE {_REJECTS}")
    return LegacyImport(path.name, digest, added, len(rejects), already_imported=False)


_DELIVERIES, _REJECTS = "legacy_stage_deliveries", "legacy_stage_rejects"
_DELIVERY_COLUMNS = (
    ("order_id", "TEXT"),
    ("merchant_name", "TEXT"),
    ("pickup_address", "TEXT"),
    ("pickup_lat", "DOUBLE PRECISION"),
    ("pickup_lng", "DOUBLE PRECISION"),
    ("dropoff_address", "TEXT"),
    ("dropoff_lat", "DOUBLE PRECISION"),
    ("dropoff_lng", "DOUBLE PRECISION"),
    ("created_at", "TIMESTAMPTZ"),
    ("picked_up_at", "TIMESTAMPTZ"),
    ("delivered_at", "TIMESTAMPTZ"),
    ("final_status", "TEXT"),
    ("robot_name", "TEXT"),
)
_REJECT_COLUMNS = (("line_number", "BIGINT"), ("raw", "TEXT"), ("reason", "TEXT"))
_ARROW_TYPES = {
    "TEXT": pa.string(),
    "BIGINT": pa.int64(),
    "DOUBLE PRECISION": pa.float64(),
    "TIMESTAMPTZ": pa.timestamp("us", tz="UTC"),
}


def _stage_deliveries(warehouse: Warehouse, accepted: list[Accepted]) -> list[Reject]:
    """Stage the file's good rows, less those whose order id an earlier file brought (each
    returned as a reject naming that file)."""
    rows = [tuple(getattr(a.delivery, name) for name in COLUMNS) for a in accepted]
    warehouse.stage(_DELIVERIES, _DELIVERY_COLUMNS, _arrow(_DELIVERY_COLUMNS, rows))
    _, found = warehouse.query(
        f"SELECT s.order_id, i.file_name FROM {_DELIVERIES} s "
        f"JOIN {LEGACY}.deliveries d ON d.order_id = s.order_id "
        f"JOIN {LEGACY}.imports i ON i.id = d.import_id"
    )
    if not found:
        return []
    warehouse.execute(
        f"DELETE FROM {_DELIVERIES} WHERE order_id IN (SELECT order_id FROM {LEGACY}.deliveries)"
    )
    by_order = {a.delivery.order_id: a for a in accepted}
    return [
        Reject(
            by_order[order_id].line_number,
            by_order[order_id].raw,
            f"order_id {order_id!r} was imported before, from {file_name}",
        )
        for order_id, file_name in found
    ]


def _arrow(columns: Sequence[tuple[str, str]], rows: Sequence[tuple[Any, ...]]) -> pa.Table:
    return pa.table(
        {
            name: pa.array([row[i] for row in rows], _ARROW_TYPES[kind])
            for i, (name, kind) in enumerate(columns)
        }
    )
