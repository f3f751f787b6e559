"""The incremental mirror: each service table is read onward from where the last sync stopped
(by change time, then key) and merged into its warehouse table in batches, one warehouse
transaction per batch with the progress made, so a sync that dies resumes and a sync run
twice adds nothing.

A row written by a transaction that commits after a later one may carry an earlier change
time than rows already read; each sync therefore reads again a short overlap before where it
stopped (`warehouse_sync_overlap_s`). Rows read again that are identical to the warehouse's
are dropped before the merge, so they are neither written nor counted: what a sync reports is
exactly the rows it added or changed."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from sidewalk.warehouse.mirror import MIRRORED, Mirrored
from sidewalk.warehouse.reads import CHANGED, as_time, read_ahead, read_changes
from sidewalk.warehouse.target import Warehouse

SYNC_SCHEMA = "sidewalk_sync"

Progress = Callable[[str, int], None]  # (qualified table, rows read so far)


def quoted(name: str) -> str:
    return f'"{name}"'


def create_mirror_tables(warehouse: Warehouse, mirrored: Sequence[Mirrored] = MIRRORED) -> None:
    """The schemas, the mirrored tables and the sync's own progress table, where missing."""
    for schema in sorted({m.schema for m in mirrored} | {SYNC_SCHEMA}):
        warehouse.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    warehouse.execute(
        f"CREATE TABLE IF NOT EXISTS {SYNC_SCHEMA}.watermarks ("
        "source TEXT PRIMARY KEY, changed_at TIMESTAMPTZ NOT NULL, synced_at TIMESTAMPTZ NOT NULL)"
    )
    done: set[str] = set()
    for m in mirrored:
        if m.qualified in done:
            continue
        done.add(m.qualified)
        columns = ", ".join(
            [f"{quoted(name)} {kind}" for name, kind, _ in m.columns()]
            + [f"{quoted(name)} {kind}" for name, kind, _ in m.derived]
        )
        key = ", ".join(quoted(k) for k in m.key)
        # DuckDB keeps no index for the key: a merge deletes and appends by a hash join,
        # which is several times faster than keeping an index up to date (Redshift, too,
        # leaves keys unenforced). PostgreSQL keeps the key as a constraint.
        constraint = f", PRIMARY KEY ({key})" if warehouse.dialect == "postgresql" else ""
        warehouse.execute(f"CREATE TABLE IF NOT EXISTS {m.qualified} ({columns}{constraint})")
        # A warehouse made by an older version gets the columns the services have gained since
        # (older rows keep them empty until they change again).
        for name, kind, _ in [*m.columns(), *m.derived]:
            warehouse.execute(
                f"ALTER TABLE {m.qualified} ADD COLUMN IF NOT EXISTS {quoted(name)} {kind}"
            )
        # And loses, with their values, the columns the mirror has stopped keeping (a secret
        # an older version copied).
        for name in sorted(m.leave_out):
            warehouse.execute(f"ALTER TABLE {m.qualified} DROP COLUMN IF EXISTS {quoted(name)}")


@dataclass
class SyncSources:
    """The two services' databases, read with engines that take no write lock."""

    deliveries: Engine
    operations: Engine

    def of(self, service: str) -> Engine:
        return self.deliveries if service == "deliveries" else self.operations


def sync(
    sources: SyncSources,
    warehouse: Warehouse,
    *,
    overlap_s: float = 300.0,
    batch_rows: int = 200_000,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    progress: Progress | None = None,
) -> dict[str, int]:
    """Bring every mirrored table up to date; rows added or changed per warehouse table."""
    create_mirror_tables(warehouse)
    changed: dict[str, int] = {}
    for m in MIRRORED:
        count = _sync_one(sources.of(m.service), warehouse, m, overlap_s, batch_rows, now, progress)
        changed[m.qualified] = changed.get(m.qualified, 0) + count
    return changed


def _sync_one(
    source: Engine,
    warehouse: Warehouse,
    m: Mirrored,
    overlap_s: float,
    batch_rows: int,
    now: Callable[[], datetime],
    progress: Progress | None,
) -> int:
    _, found = warehouse.query(
        f"SELECT changed_at FROM {SYNC_SCHEMA}.watermarks WHERE source = :source",
        {"source": m.watermark},
    )
    since: datetime | None = found[0][0] - timedelta(seconds=overlap_s) if found else None
    columns = m.columns()
    stage = f"stage_{m.name}"
    added, read = 0, 0
    # A table's first sync only adds rows: nothing to compare them with.
    compare = bool(found)
    for batch in read_ahead(read_changes(source, m, since, batch_rows)):
        read += batch.num_rows
        last_change = as_time(batch.column(CHANGED)[-1].as_py())
        with warehouse.transaction():
            warehouse.stage(
                stage, [(name, kind) for name, kind, _ in columns], batch.drop_columns(CHANGED)
            )
            if compare:
                _drop_unchanged(warehouse, m, stage, columns)
            _, (n,) = warehouse.query(f"SELECT count(*) FROM {stage}")
            added += int(n[0])
            _merge(warehouse, m, stage, columns, replace=compare)
            warehouse.execute(
                f"INSERT INTO {SYNC_SCHEMA}.watermarks (source, changed_at, synced_at) "
                "VALUES (:source, :changed_at, :synced_at) ON CONFLICT (source) DO UPDATE "
                "SET changed_at = EXCLUDED.changed_at, synced_at = EXCLUDED.synced_at",
                {"source": m.watermark, "changed_at": last_change, "synced_at": now()},
            )
            warehouse.execute(f"DROP TABLE {stage}")
        if progress is not None:
            progress(m.qualified, read)
    return added


def _drop_unchanged(
    warehouse: Warehouse, m: Mirrored, stage: str, columns: list[tuple[str, str, bool]]
) -> None:
    # The key by equality (which PostgreSQL joins by its index), the rest null-safely.
    same = " AND ".join(
        [f"w.{quoted(k)} = {stage}.{quoted(k)}" for k in m.key]
        + [
            f"w.{quoted(name)} IS NOT DISTINCT FROM {stage}.{quoted(name)}"
            for name, _, _ in columns
            if name not in m.key
        ]
    )
    warehouse.execute(f"DELETE FROM {stage} USING {m.qualified} AS w WHERE {same}")


def _merge(
    warehouse: Warehouse,
    m: Mirrored,
    stage: str,
    columns: list[tuple[str, str, bool]],
    *,
    replace: bool,
) -> None:
    """The staged rows into their table: the rows they change are deleted first (`replace`;
    a table's first sync has none), then all of them appended."""
    if replace:
        same_key = " AND ".join(f"w.{quoted(k)} = {stage}.{quoted(k)}" for k in m.key)
        warehouse.execute(f"DELETE FROM {m.qualified} AS w USING {stage} WHERE {same_key}")
    raw = [quoted(name) for name, _, _ in columns]
    names = ", ".join(raw + [quoted(name) for name, _, _ in m.derived])
    values = ", ".join(raw + [expression for _, _, expression in m.derived])
    warehouse.execute(f"INSERT INTO {m.qualified} ({names}) SELECT {values} FROM {stage}")
