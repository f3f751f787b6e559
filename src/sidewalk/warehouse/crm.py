"""Sales data from Salesforce export files (Data Loader CSV), kept in `crm` and linked to
merchants by the account's merchant id field (`Merchant_Id__c`).

Rows are upserted by Salesforce id, in one warehouse transaction for both files; a row the
same as the warehouse's is left alone, so an import reports exactly what it changed. The
files: docs/warehouse-imports.md."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pyarrow as pa

from sidewalk.warehouse.crm_files import (
    Account,
    CrmFileError,
    Opportunity,
    read_accounts,
    read_opportunities,
)
from sidewalk.warehouse.sync import create_mirror_tables
from sidewalk.warehouse.target import Warehouse

__all__ = ["CRM", "CrmFileError", "CrmImport", "create_crm_tables", "import_crm"]

CRM = "crm"


def create_crm_tables(warehouse: Warehouse) -> None:
    """The CRM schema and tables, with the mirrored `config.merchants` accounts link to."""
    create_mirror_tables(warehouse)
    warehouse.execute(f"CREATE SCHEMA IF NOT EXISTS {CRM}")
    warehouse.execute(
        f"CREATE TABLE IF NOT EXISTS {CRM}.accounts ("
        "id TEXT PRIMARY KEY, name TEXT NOT NULL, type TEXT, industry TEXT, "
        "billing_city TEXT, billing_state TEXT, owner_id TEXT, merchant_id TEXT, "
        "imported_at TIMESTAMPTZ NOT NULL)"
    )
    warehouse.execute(
        f"CREATE TABLE IF NOT EXISTS {CRM}.opportunities ("
        "id TEXT PRIMARY KEY, account_id TEXT, name TEXT NOT NULL, amount_cents BIGINT, "
        "stage_name TEXT, close_date DATE, is_won BOOLEAN, imported_at TIMESTAMPTZ NOT NULL)"
    )


@dataclass(frozen=True)
class CrmImport:
    """What one import changed, and how many of the file's accounts name no known merchant
    (no `Merchant_Id__c`, or one not in `config.merchants`)."""

    accounts_added: int
    accounts_updated: int
    opportunities_added: int
    opportunities_updated: int
    accounts_without_merchant: int


ACCOUNT_COLUMNS = (
    ("id", "TEXT"),
    ("name", "TEXT"),
    ("type", "TEXT"),
    ("industry", "TEXT"),
    ("billing_city", "TEXT"),
    ("billing_state", "TEXT"),
    ("owner_id", "TEXT"),
    ("merchant_id", "TEXT"),
)
OPPORTUNITY_COLUMNS = (
    ("id", "TEXT"),
    ("account_id", "TEXT"),
    ("name", "TEXT"),
    ("amount_cents", "BIGINT"),
    ("stage_name", "TEXT"),
    ("close_date", "DATE"),
    ("is_won", "BOOLEAN"),
)
_ARROW_TYPES = {
    "TEXT": pa.string(),
    "BIGINT": pa.int64(),
    "DATE": pa.date32(),
    "BOOLEAN": pa.bool_(),
}


def import_crm(
    warehouse: Warehouse,
    accounts_path: Path | str,
    opportunities_path: Path | str | None = None,
    *,
    now: datetime,
) -> CrmImport:
    """Upsert the accounts (and opportunities) of Data Loader exports. Both files are read
    whole before anything is written; one that cannot be read whole raises `CrmFileError`."""
    accounts = read_accounts(Path(accounts_path))
    opportunities = (
        read_opportunities(Path(opportunities_path)) if opportunities_path is not None else []
    )
    create_crm_tables(warehouse)
    with warehouse.transaction():
        stage = _stage(warehouse, "accounts", ACCOUNT_COLUMNS, accounts)
        _, ((unlinked,),) = warehouse.query(
            f"SELECT count(*) FROM {stage} s WHERE s.merchant_id IS NULL OR NOT EXISTS "
            "(SELECT 1 FROM config.merchants m WHERE m.id = s.merchant_id)"
        )
        accounts_added, accounts_updated = _upsert(warehouse, "accounts", ACCOUNT_COLUMNS, now)
        _stage(warehouse, "opportunities", OPPORTUNITY_COLUMNS, opportunities)
        added, updated = _upsert(warehouse, "opportunities", OPPORTUNITY_COLUMNS, now)
    return CrmImport(accounts_added, accounts_updated, added, updated, int(unlinked))


def _stage(
    warehouse: Warehouse,
    table: str,
    columns: Sequence[tuple[str, str]],
    rows: Sequence[Account] | Sequence[Opportunity],
) -> str:
    """Stage rows (whose fields are named as the columns) as `crm_stage_<table>`."""
    name = f"crm_stage_{table}"
    arrow = pa.table(
        {
            column: pa.array([getattr(row, column) for row in rows], _ARROW_TYPES[kind])
            for column, kind in columns
        }
    )
    warehouse.stage(name, columns, arrow)
    return name


def _upsert(
    warehouse: Warehouse, table: str, columns: Sequence[tuple[str, str]], now: datetime
) -> tuple[int, int]:
    """Merge the staged rows into `crm.<table>` by id; (added, updated), unchanged rows left
    out of both and untouched (their `imported_at` stays when they last changed)."""
    stage, target = f"crm_stage_{table}", f"{CRM}.{table}"
    names = [name for name, _ in columns]
    same = " AND ".join(f"t.{n} IS NOT DISTINCT FROM {stage}.{n}" for n in names)
    warehouse.execute(f"DELETE FROM {stage} USING {target} t WHERE {same}")
    _, ((staged, known),) = warehouse.query(
        f"SELECT count(*), count(t.id) FROM {stage} s LEFT JOIN {target} t ON t.id = s.id"
    )
    updates = ", ".join(f"{n} = EXCLUDED.{n}" for n in [*names[1:], "imported_at"])
    warehouse.execute(
        f"INSERT INTO {target} ({', '.join(names)}, imported_at) "
        f"SELECT {', '.join(names)}, CAST(:now AS TIMESTAMPTZ) FROM {stage} "
        f"ON CONFLICT (id) DO UPDATE SET {updates}",
        {"now": now},
    )
    warehouse.execute(f"DROP TABLE {stage}")
    return int(staged) - int(known), int(known)
