"""The warehouse a sync writes to: an embedded DuckDB file (the default) or PostgreSQL (the
production target, whose dialect Redshift speaks). Both are driven through their own drivers,
with one SQL text for both: named parameters written `:name`, and rows loaded in bulk from
Arrow tables (DuckDB scans them in place; PostgreSQL takes them as one `COPY`).

Every session runs in UTC, so that a day or an hour in a query pattern is the same on both."""

import io
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import duckdb
import psycopg
import pyarrow as pa
import pyarrow.csv as pa_csv
from sqlalchemy.engine import make_url

Params = Mapping[str, Any]

# A `:name` outside quotes and comments, and not a `::type` cast.
_PARAM = re.compile(r"--[^\n]*|'(?:[^']|'')*'|(?<![:\w]):([A-Za-z_]\w*)")


def param_names(sql: str) -> list[str]:
    """The named parameters of `sql`, in order of first use."""
    names: list[str] = []
    for match in _PARAM.finditer(sql):
        name = match.group(1)
        if name is not None and name not in names:
            names.append(name)
    return names


def _rewrite(sql: str, style: str) -> str:
    """`:name` in the driver's own style: `$name` (DuckDB) or `%(name)s` (psycopg)."""

    def swap(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:  # a quoted literal or a comment: kept as it is
            return match.group(0).replace("%", "%%") if style == "psycopg" else match.group(0)
        return f"${name}" if style == "duckdb" else f"%({name})s"

    if style == "psycopg":
        # Literal percent signs outside literals must be doubled too (`%` as modulo).
        parts, last = [], 0
        for match in _PARAM.finditer(sql):
            parts.append(sql[last : match.start()].replace("%", "%%"))
            parts.append(swap(match))
            last = match.end()
        parts.append(sql[last:].replace("%", "%%"))
        return "".join(parts)
    return _PARAM.sub(swap, sql)


class Warehouse(Protocol):
    """What the sync, the imports and the query patterns need of a warehouse."""

    dialect: str
    url: str

    def execute(self, sql: str, params: Params | None = None) -> None: ...

    def query(
        self, sql: str, params: Params | None = None
    ) -> tuple[list[str], list[tuple[Any, ...]]]: ...

    def stage(self, name: str, columns: Sequence[tuple[str, str]], rows: pa.Table) -> None:
        """A temporary table `name` with `columns` (name, SQL type) holding `rows`."""
        ...

    @contextmanager
    def transaction(self) -> Iterator[None]: ...

    def close(self) -> None: ...


class DuckDBWarehouse:
    dialect = "duckdb"

    def __init__(self, path: str) -> None:
        self.url = f"duckdb:///{path}"
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._con = duckdb.connect(path)
        self._con.execute("SET TimeZone = 'UTC'")

    def execute(self, sql: str, params: Params | None = None) -> None:
        self._con.execute(_rewrite(sql, "duckdb"), dict(params or {}))

    def query(
        self, sql: str, params: Params | None = None
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        cursor = self._con.execute(_rewrite(sql, "duckdb"), dict(params or {}))
        columns = [d[0] for d in cursor.description or []]
        return columns, cursor.fetchall()

    def stage(self, name: str, columns: Sequence[tuple[str, str]], rows: pa.Table) -> None:
        view = f"{name}_arrow"
        self._con.register(view, rows)
        try:
            casts = ", ".join(f'CAST("{c}" AS {t}) AS "{c}"' for c, t in columns)
            self._con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT {casts} FROM {view}")
        finally:
            self._con.unregister(view)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self._con.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            self._con.execute("ROLLBACK")
            raise
        self._con.execute("COMMIT")

    def close(self) -> None:
        self._con.close()


class PostgresWarehouse:
    dialect = "postgresql"

    def __init__(self, url: str) -> None:
        self.url = url
        parsed = make_url(url).set(drivername="postgresql")
        self._con = psycopg.connect(parsed.render_as_string(hide_password=False), autocommit=True)
        self._con.execute("SET TIME ZONE 'UTC'")
        self._in_transaction = False

    def execute(self, sql: str, params: Params | None = None) -> None:
        self._con.execute(_rewrite(sql, "psycopg").encode(), dict(params or {}) or None)

    def query(
        self, sql: str, params: Params | None = None
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        cursor = self._con.execute(_rewrite(sql, "psycopg").encode(), dict(params or {}) or None)
        columns = [d.name for d in cursor.description or []]
        return columns, cursor.fetchall()

    def stage(self, name: str, columns: Sequence[tuple[str, str]], rows: pa.Table) -> None:
        definition = ", ".join(f'"{c}" {t}' for c, t in columns)
        self._con.execute(f"DROP TABLE IF EXISTS {name}")
        self._con.execute(f"CREATE TEMP TABLE {name} ({definition})")
        if rows.num_rows == 0:
            return
        buffer = io.BytesIO()
        pa_csv.write_csv(
            rows.select([c for c, _ in columns]),
            buffer,
            pa_csv.WriteOptions(include_header=False, quoting_style="needed"),
        )
        names = ", ".join(f'"{c}"' for c, _ in columns)
        with self._con.cursor().copy(f"COPY {name} ({names}) FROM STDIN (FORMAT csv)") as copy:
            copy.write(buffer.getvalue())

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._con.transaction():
            yield

    def close(self) -> None:
        self._con.close()


def open_warehouse(url: str) -> Warehouse:
    """`duckdb:///path/to/file.duckdb` (or `duckdb:///:memory:`) or a PostgreSQL URL."""
    if url.startswith("duckdb:"):
        path = url.removeprefix("duckdb:").removeprefix("///").removeprefix("//")
        return DuckDBWarehouse(path or ":memory:")
    if url.startswith(("postgresql:", "postgresql+", "postgres:")):
        return PostgresWarehouse(url)
    raise ValueError(f"a warehouse URL is duckdb:///FILE or postgresql://…, not {url!r}")
