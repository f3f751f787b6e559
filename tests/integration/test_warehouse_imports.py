"""The legacy CSV import and the Salesforce CRM import, on DuckDB and PostgreSQL: exact rows
in, bad rows set aside with their reason, broken files leaving nothing behind, re-imports
adding nothing, and CRM rows upserted and linked to merchants."""

import hashlib
import itertools
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from sidewalk.warehouse.crm import CrmFileError, CrmImport, create_crm_tables, import_crm
from sidewalk.warehouse.legacy import (
    LegacyFileError,
    LegacyImport,
    create_legacy_tables,
    import_legacy,
)
from sidewalk.warehouse.target import Warehouse

NOW = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)
LATER = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
HEADER = (
    "order_id,merchant_name,pickup_address,pickup_lat,pickup_lng,dropoff_address,dropoff_lat,"
    "dropoff_lng,created_at,picked_up_at,delivered_at,final_status,robot_name"
)
DELIVERED = (
    'L-1001,Sunset Bakery,"1 Main St, San Francisco",37.7749,-122.4194,"Apt ""B"", 9 Oak St",'
    "37.7793,-122.4192,2021-03-01T10:00:00-08:00,2021-03-01T18:12:30Z,"
    "2021-03-01T10:40:00.250-08:00,delivered,R2-017"
)
CANCELLED = "L-1002,Rival Deli,,,,,,,2021-03-02T09:00:00+01:00,,,Canceled,"


def write(tmp_path: Path, name: str, *lines: str) -> Path:
    path = tmp_path / name
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    return path


def t(text: str) -> datetime:
    return datetime.fromisoformat(text)


def legacy_tables(warehouse: Warehouse) -> dict[str, list[tuple[Any, ...]]]:
    return {
        table: sorted(warehouse.query(f"SELECT * FROM deliveries_legacy.{table}")[1], key=str)
        for table in ("imports", "deliveries", "rejects")
    }


def test_a_good_file_is_imported_row_for_row(warehouse: Warehouse, tmp_path: Path) -> None:
    path = write(tmp_path, "export-2021.csv", HEADER, DELIVERED, CANCELLED)

    result = import_legacy(warehouse, path, now=NOW)

    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert result == LegacyImport("export-2021.csv", digest, 2, 0, already_imported=False)
    _, imports = warehouse.query(
        "SELECT id, file_name, sha256, imported_at, added, rejected FROM deliveries_legacy.imports"
    )
    [(import_id, *rest)] = imports
    assert rest == ["export-2021.csv", digest, NOW, 2, 0]
    _, rows = warehouse.query("SELECT * FROM deliveries_legacy.deliveries ORDER BY order_id")
    assert rows == [
        (
            "L-1001",
            "Sunset Bakery",
            "1 Main St, San Francisco",
            37.7749,
            -122.4194,
            'Apt "B", 9 Oak St',
            37.7793,
            -122.4192,
            t("2021-03-01T18:00:00+00:00"),
            t("2021-03-01T18:12:30+00:00"),
            t("2021-03-01T18:40:00.250+00:00"),
            "delivered",
            "R2-017",
            import_id,
        ),
        (
            "L-1002",
            "Rival Deli",
            None,
            None,
            None,
            None,
            None,
            None,
            t("2021-03-02T08:00:00+00:00"),
            None,
            None,
            "cancelled",
            None,
            import_id,
        ),
    ]


_ORDER_NUMBERS = itertools.count(1)


def row(**changes: str) -> str:
    """A cancelled delivery's row (no address, no robot) of its own order id, with `changes`."""
    fields = dict.fromkeys(HEADER.split(","), "") | {
        "order_id": f"B-{next(_ORDER_NUMBERS)}",
        "merchant_name": "Sunset Bakery",
        "created_at": "2021-03-01T10:00:00Z",
        "final_status": "cancelled",
    }
    return ",".join((fields | changes).values())


NAIVE = "2021-03-01T10:00:00"
# (row, the reason it is rejected for): one row per rule.
BAD_ROWS = [
    (row(order_id=""), "missing order_id"),
    (row(merchant_name=""), "missing merchant_name"),
    (row(created_at="yesterday"), "created_at 'yesterday' is not an ISO 8601 time"),
    (row(created_at=NAIVE), f"created_at '{NAIVE}' has no UTC offset (add Z or +hh:mm)"),
    (row(pickup_lat="91", pickup_lng="0"), "pickup_lat 91 is out of range (-90 to 90)"),
    (
        row(dropoff_lat="1", dropoff_lng="-180.5"),
        "dropoff_lng -180.5 is out of range (-180 to 180)",
    ),
    (row(dropoff_lat="1"), "dropoff_lat and dropoff_lng come together or not at all"),
    (row(picked_up_at="2021-03-01T09:59:59Z"), "picked_up_at is before created_at"),
    (
        row(delivered_at="2021-03-01T10:30:00Z", final_status="delivered"),
        "delivered without picked_up_at",
    ),
    (
        row(delivered_at="2021-03-01T10:30:00Z"),
        "delivered_at given but final_status is cancelled",
    ),
    (
        row(final_status="lost"),
        "final_status 'lost' is not one of delivered, cancelled, failed, returned",
    ),
    (row(order_id="L-1001"), "duplicate order_id 'L-1001' (first on line 2)"),
    ("W-1,Sunset Bakery,2021-03-01T10:00:00Z,cancelled", "expected 13 fields, found 4"),
]


def test_bad_rows_are_set_aside_with_their_reasons(warehouse: Warehouse, tmp_path: Path) -> None:
    path = write(tmp_path, "mixed.csv", HEADER, DELIVERED, *(row for row, _ in BAD_ROWS))

    result = import_legacy(warehouse, path, now=NOW)

    assert (result.added, result.rejected) == (1, len(BAD_ROWS))
    _, rejects = warehouse.query(
        "SELECT line_number, raw, reason FROM deliveries_legacy.rejects ORDER BY line_number"
    )
    assert rejects == [(line, row, reason) for line, (row, reason) in enumerate(BAD_ROWS, 3)]
    _, kept = warehouse.query("SELECT order_id FROM deliveries_legacy.deliveries")
    assert kept == [("L-1001",)]


def test_an_order_imported_from_another_file_is_rejected(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    import_legacy(warehouse, write(tmp_path, "march.csv", HEADER, DELIVERED), now=NOW)
    again = DELIVERED.replace("R2-017", "R2-018")

    result = import_legacy(
        warehouse, write(tmp_path, "april.csv", HEADER, again, CANCELLED), now=NOW
    )

    assert (result.added, result.rejected) == (1, 1)
    _, rejects = warehouse.query("SELECT line_number, raw, reason FROM deliveries_legacy.rejects")
    assert rejects == [(2, again, "order_id 'L-1001' was imported before, from march.csv")]
    _, kept = warehouse.query(
        "SELECT order_id, robot_name FROM deliveries_legacy.deliveries ORDER BY order_id"
    )
    assert kept == [("L-1001", "R2-017"), ("L-1002", None)]


BROKEN_FILES = {
    "not UTF-8 on the last line": HEADER.encode() + b"\n" + CANCELLED.encode() + b"\nL-9,Caf\xe9\n",
    "an open quote on the last line": f'{HEADER}\n{CANCELLED}\nL-9,"Sunset Bakery\n'.encode(),
    "a quote out of place": f'{HEADER}\n"L-9"x,Sunset\n{CANCELLED}\n'.encode(),
    "no header": f"{CANCELLED}\n{DELIVERED}\n".encode(),
    "a missing column": HEADER.replace(",robot_name", "").encode() + b"\n",
    "an unknown column": f"{HEADER},tip_cents\n{CANCELLED},100\n".encode(),
    "nothing at all": b"",
    "a NUL byte": f"{HEADER}\n{CANCELLED}\0\n".encode(),
}


def test_a_broken_file_leaves_every_legacy_table_as_it_was(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    import_legacy(warehouse, write(tmp_path, "good.csv", HEADER, DELIVERED, "x"), now=NOW)
    before = legacy_tables(warehouse)

    for why, content in BROKEN_FILES.items():
        path = tmp_path / "broken.csv"
        path.write_bytes(content)
        with pytest.raises(LegacyFileError):
            import_legacy(warehouse, path, now=LATER)
        assert legacy_tables(warehouse) == before, why


def test_a_failure_while_loading_leaves_nothing_behind(
    warehouse: Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_legacy_tables(warehouse)
    before = legacy_tables(warehouse)
    execute = warehouse.execute

    def failing(sql: str, params: Any = None) -> None:
        if sql.startswith("INSERT INTO deliveries_legacy.imports"):
            raise RuntimeError("the warehouse went away")
        execute(sql, params)

    monkeypatch.setattr(warehouse, "execute", failing)
    with pytest.raises(RuntimeError):
        import_legacy(warehouse, write(tmp_path, "a.csv", HEADER, DELIVERED, "x"), now=NOW)
    monkeypatch.undo()

    assert legacy_tables(warehouse) == before


def test_importing_a_file_again_adds_nothing(warehouse: Warehouse, tmp_path: Path) -> None:
    path = write(tmp_path, "export.csv", HEADER, DELIVERED, CANCELLED, "x")
    first = import_legacy(warehouse, path, now=NOW)
    before = legacy_tables(warehouse)
    copy = tmp_path / "renamed.csv"
    copy.write_bytes(path.read_bytes())

    again = import_legacy(warehouse, path, now=LATER)
    renamed = import_legacy(warehouse, copy, now=LATER)

    assert (first.added, first.rejected, first.already_imported) == (2, 1, False)
    assert again == LegacyImport("export.csv", first.sha256, 0, 0, already_imported=True)
    assert renamed.already_imported
    assert legacy_tables(warehouse) == before


def test_legacy_deliveries_show_in_the_view_of_all_deliveries(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    import_legacy(warehouse, write(tmp_path, "export.csv", HEADER, DELIVERED, CANCELLED), now=NOW)

    _, rows = warehouse.query(
        "SELECT source, delivery_id, merchant_name, status, robot_name, picked_up_at, dropoff_lat "
        "FROM deliveries_legacy.all_deliveries ORDER BY delivery_id"
    )

    picked_up_at = t("2021-03-01T18:12:30Z")
    assert rows == [
        ("legacy", "L-1001", "Sunset Bakery", "delivered", "R2-017", picked_up_at, 37.7793),
        ("legacy", "L-1002", "Rival Deli", "cancelled", None, None, None),
    ]


# --- CRM ------------------------------------------------------------------------------------

ACCOUNTS = (
    '"ID","NAME","TYPE","INDUSTRY","BILLINGCITY","BILLINGSTATE","OWNERID","MERCHANT_ID__C",'
    '"CREATEDDATE"'
)
SUNSET = (
    '"0015g00000AbCdE","Sunset Bakery","Customer","Food & Beverage","San Francisco","CA",'
    '"0055g000001XyZa","mer_sunset","2024-01-02T03:04:05.000Z"'
)
RIVAL = '"0015g00000RiVaL","Rival Deli","Prospect","","","","","mer_gone",""'
CORNER = '"0015g00000CoRnR","Corner Shop","","","","","","",""'
OPPORTUNITIES = "Id,AccountId,Name,Amount,StageName,CloseDate,IsWon"
PILOT = "0065g00000PiLoT,0015g00000AbCdE,Pilot,1234.56,Closed Won,2026-01-31,true"
EXPANSION = "0065g00000ExPaN,0015g00000AbCdE,Expansion,0.29,Negotiation,2026-03-15,false"
TRIAL = "0065g00000TrIaL,0015g00000RiVaL,Trial,,Prospecting,,false"


def add_merchant(warehouse: Warehouse, merchant_id: str, name: str) -> None:
    warehouse.execute(
        "INSERT INTO config.merchants (id, name, partner_id, currency, base_fee_cents, "
        "fee_per_km_cents, courier_base_fee_cents, courier_fee_per_km_cents, "
        "max_robot_distance_m, courier_fallback, quote_lifetime_s, created_at, updated_at) "
        "VALUES (:id, :name, NULL, 'USD', 399, 50, 699, 90, 3000, TRUE, 300, :at, :at)",
        {"id": merchant_id, "name": name, "at": NOW},
    )


def crm_tables(warehouse: Warehouse) -> dict[str, list[tuple[Any, ...]]]:
    return {
        table: sorted(warehouse.query(f"SELECT * FROM crm.{table}")[1], key=str)
        for table in ("accounts", "opportunities")
    }


def test_accounts_and_opportunities_are_imported_in_exact_cents(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    accounts = write(tmp_path, "Account.csv", ACCOUNTS, SUNSET, RIVAL)
    opportunities = write(tmp_path, "Opportunity.csv", OPPORTUNITIES, PILOT, EXPANSION, TRIAL)

    result = import_crm(warehouse, accounts, opportunities, now=NOW)

    assert result == CrmImport(2, 0, 3, 0, accounts_without_merchant=2)
    _, rows = warehouse.query("SELECT * FROM crm.accounts ORDER BY name")
    assert rows == [
        ("0015g00000RiVaLAAV", "Rival Deli", "Prospect", None, None, None, None, "mer_gone", NOW),
        (
            "0015g00000AbCdEAAV",
            "Sunset Bakery",
            "Customer",
            "Food & Beverage",
            "San Francisco",
            "CA",
            "0055g000001XyZaAAK",
            "mer_sunset",
            NOW,
        ),
    ]
    _, rows = warehouse.query("SELECT * FROM crm.opportunities ORDER BY name")
    sunset, rival = "0015g00000AbCdEAAV", "0015g00000RiVaLAAV"
    assert rows == [
        (
            "0065g00000ExPaNAAV",
            sunset,
            "Expansion",
            29,
            "Negotiation",
            date(2026, 3, 15),
            False,
            NOW,
        ),
        ("0065g00000PiLoTAAV", sunset, "Pilot", 123456, "Closed Won", date(2026, 1, 31), True, NOW),
        ("0065g00000TrIaLAAV", rival, "Trial", None, "Prospecting", None, False, NOW),
    ]


def test_a_second_import_with_one_change_updates_exactly_that_row(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    import_crm(warehouse, write(tmp_path, "a1.csv", ACCOUNTS, SUNSET, RIVAL), now=NOW)
    renamed = RIVAL.replace("Rival Deli", "Rival Deli & Grocery")
    # The same account by its 18-character id is the same row, unchanged.
    long_id = SUNSET.replace("0015g00000AbCdE", "0015G00000ABCDEAAV")

    result = import_crm(warehouse, write(tmp_path, "a2.csv", ACCOUNTS, long_id, renamed), now=LATER)

    assert result == CrmImport(0, 1, 0, 0, accounts_without_merchant=2)
    _, rows = warehouse.query("SELECT id, name, imported_at FROM crm.accounts ORDER BY id")
    assert rows == [
        ("0015g00000AbCdEAAV", "Sunset Bakery", NOW),
        ("0015g00000RiVaLAAV", "Rival Deli & Grocery", LATER),
    ]


def test_opportunities_without_is_won_are_won_when_closed_won(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    header = OPPORTUNITIES.removesuffix(",IsWon")
    rows = [row.rsplit(",", 1)[0] for row in (PILOT, EXPANSION)]
    accounts = write(tmp_path, "a.csv", ACCOUNTS, SUNSET)

    import_crm(warehouse, accounts, write(tmp_path, "o.csv", header, *rows), now=NOW)

    _, won = warehouse.query("SELECT name, is_won FROM crm.opportunities ORDER BY name")
    assert won == [("Expansion", False), ("Pilot", True)]


def test_accounts_join_the_merchants_they_name(warehouse: Warehouse, tmp_path: Path) -> None:
    create_crm_tables(warehouse)
    add_merchant(warehouse, "mer_sunset", "Sunset Bakery SF")
    add_merchant(warehouse, "mer_other", "Other")

    result = import_crm(
        warehouse, write(tmp_path, "a.csv", ACCOUNTS, SUNSET, RIVAL, CORNER), now=NOW
    )

    # Rival names a merchant the warehouse does not know; Corner names none.
    assert result.accounts_without_merchant == 2
    _, joined = warehouse.query(
        "SELECT a.name, m.name FROM crm.accounts a "
        "JOIN config.merchants m ON m.id = a.merchant_id ORDER BY a.name"
    )
    assert joined == [("Sunset Bakery", "Sunset Bakery SF")]


# (accounts file, opportunities file, what the error says): none may change anything.
UNREADABLE = [
    ('"ID","NAME","TYPE"\n"0015g00000AbCdE","Sunset","Customer"', None, "lacks the columns"),
    (f"{ACCOUNTS}\n{RIVAL}", "Id,AccountId,Name,StageName\n0065g00000PiLoT,,Pilot,x", "Amount"),
    (f"{ACCOUNTS}\n{RIVAL}", f"{OPPORTUNITIES}\n{PILOT.replace('.56', '.565')}", "of a cent"),
    (f"{ACCOUNTS}\n{RIVAL}", f"{OPPORTUNITIES}\n{PILOT.replace('PiLoT', '-bad')}", "not a Sales"),
    (f"{ACCOUNTS}\n{RIVAL}\n{RIVAL}", None, "again"),
    (f"{ACCOUNTS}\n{RIVAL}", f"{OPPORTUNITIES}\n{TRIAL.replace(',false', ',maybe')}", "IsWon"),
]


def test_a_file_that_cannot_be_read_whole_changes_nothing(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    import_crm(warehouse, write(tmp_path, "a0.csv", ACCOUNTS, SUNSET), now=NOW)
    before = crm_tables(warehouse)

    for accounts, opportunities, error in UNREADABLE:
        accounts_path = write(tmp_path, "a.csv", accounts)
        opportunities_path = write(tmp_path, "o.csv", opportunities) if opportunities else None
        with pytest.raises(CrmFileError, match=error):
            import_crm(warehouse, accounts_path, opportunities_path, now=LATER)
        assert crm_tables(warehouse) == before, error
