"""`sidewalk warehouse …`: mirror the services into the analytics warehouse, import the legacy
and CRM files, run the named query patterns and render the report. The warehouse is the one
the settings name (`SIDEWALK_WAREHOUSE_URL`; default a DuckDB file in var/)."""

import csv
import dataclasses
import json
import sys
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.engine import make_url

from sidewalk.kernel.settings import Settings
from sidewalk.warehouse import crm, legacy, patterns
from sidewalk.warehouse.job import opened_warehouse, sync_now
from sidewalk.warehouse.report import render_report

warehouse_app = typer.Typer(
    help="The analytics warehouse: sync, imports, query patterns, report.", no_args_is_help=True
)
console = Console()
errors = Console(stderr=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document, nothing else.")]


def _fail(message: str, code: int = 2) -> typer.Exit:
    errors.print(f"[red]error[/red]: {message}")
    return typer.Exit(code=code)


def _now() -> datetime:
    return datetime.now(UTC)


@warehouse_app.command("sync")
def sync_command(as_json: JsonFlag = False) -> None:
    """Bring the warehouse up to date with both services (only what changed since the last
    sync is read); prints the rows added or changed per table."""
    settings = Settings()
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,} rows read"),
        TimeElapsedColumn(),
        console=errors,
        disable=as_json,
        transient=True,
    ) as bar:
        task = bar.add_task("syncing", total=None)

        def progress(table: str, read: int) -> None:
            bar.update(task, description=table, completed=read)

        changed = sync_now(settings, progress=progress)
    if as_json:
        print(json.dumps(changed))
        return
    shown = make_url(settings.warehouse).render_as_string(hide_password=True)
    table = Table(title=f"warehouse sync → {shown}")
    table.add_column("table")
    table.add_column("rows added or changed", justify="right")
    for name, count in changed.items():
        table.add_row(name, f"{count:,}")
    table.add_row("[bold]total", f"[bold]{sum(changed.values()):,}")
    console.print(table)


@warehouse_app.command("import-legacy")
def import_legacy_command(
    file: Annotated[Path, typer.Argument(help="The legacy system's CSV export.")],
    as_json: JsonFlag = False,
) -> None:
    """Import the older system's deliveries (format: docs/warehouse-imports.md): bad rows are
    set aside with their reason; a file goes in whole or not at all, and only once."""
    if not file.is_file():
        raise _fail(f"no file {file}")
    with opened_warehouse(Settings()) as warehouse:
        try:
            result = legacy.import_legacy(warehouse, file, now=_now())
        except legacy.LegacyFileError as e:
            raise _fail(f"{file.name}: {e}") from e
    if as_json:
        print(json.dumps(_plain(result)))
        return
    if result.already_imported:
        console.print(f"{file.name} was imported before: nothing added")
        return
    console.print(f"{file.name}: {result.added:,} deliveries added, {result.rejected:,} rejected")
    if result.rejected:
        console.print("the rejected rows and why: table deliveries_legacy.rejects")


@warehouse_app.command("import-crm")
def import_crm_command(
    accounts: Annotated[Path, typer.Argument(help="Salesforce Account export (CSV).")],
    opportunities: Annotated[
        Path | None, typer.Argument(help="Salesforce Opportunity export (CSV).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Upsert Salesforce accounts (and opportunities) by their Id, linked to merchants by the
    account's `Merchant_Id__c`."""
    for path in (accounts, opportunities):
        if path is not None and not path.is_file():
            raise _fail(f"no file {path}")
    with opened_warehouse(Settings()) as warehouse:
        try:
            result = crm.import_crm(warehouse, accounts, opportunities, now=_now())
        except crm.CrmFileError as e:
            raise _fail(str(e)) from e
    if as_json:
        print(json.dumps(_plain(result)))
        return
    table = Table(title="CRM import")
    table.add_column("")
    table.add_column("count", justify="right")
    for name, value in _plain(result).items():
        table.add_row(name.replace("_", " "), f"{value:,}" if isinstance(value, int) else value)
    console.print(table)


@warehouse_app.command("patterns")
def patterns_command(as_json: JsonFlag = False) -> None:
    """The named query patterns, with what each answers and its parameters."""
    found = patterns.load_patterns()
    if as_json:
        print(
            json.dumps(
                [
                    {"name": p.name, "description": p.description, "params": dict(p.params)}
                    for p in found
                ]
            )
        )
        return
    table = Table(title="query patterns (sidewalk warehouse query NAME --param k=v)")
    table.add_column("name", style="bold", no_wrap=True)
    table.add_column("answers")
    table.add_column("params (default)")
    for p in found:
        params = ", ".join(f"{k}={v}" if v else f"{k} (required)" for k, v in p.params.items())
        table.add_row(p.name, p.description, params)
    console.print(table)


@warehouse_app.command("query")
def query_command(
    name: Annotated[str, typer.Argument(help="A pattern's name (see `warehouse patterns`).")],
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="A parameter, as name=value.")
    ] = None,
    output: Annotated[
        str, typer.Option("--format", help="table, csv or json.", case_sensitive=False)
    ] = "table",
) -> None:
    """Run one query pattern on the warehouse."""
    if output not in {"table", "csv", "json"}:
        raise _fail(f"--format is table, csv or json, not {output!r}")
    params: dict[str, str] = {}
    for item in param or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise _fail(f"--param takes name=value, not {item!r}")
        params[key.strip()] = value
    with opened_warehouse(Settings()) as warehouse:
        try:
            columns, rows = patterns.run_pattern(warehouse, name, params)
        except patterns.PatternError as e:
            raise _fail(str(e)) from e
    if output == "json":
        print(json.dumps([dict(zip(columns, map(_cell, row), strict=True)) for row in rows]))
    elif output == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows([[_cell(v) for v in row] for row in rows])
    else:
        table = Table(title=name)
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*("" if v is None else str(_cell(v)) for v in row))
        console.print(table)


@warehouse_app.command("report")
def report_command(
    out: Annotated[Path, typer.Option(help="Where to write the HTML page.")] = Path(
        "warehouse-report.html"
    ),
) -> None:
    """Render the main query patterns as one HTML page of charts and tables (works offline)."""
    with opened_warehouse(Settings()) as warehouse:
        page = render_report(warehouse, generated_at=_now())
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    console.print(f"wrote {out}")


def _cell(value: Any) -> Any:
    """A warehouse value as JSON and CSV take it."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _plain(result: Any) -> dict[str, Any]:
    """An import's result (a dataclass) as JSON takes it."""
    return {k: _cell(v) for k, v in dataclasses.asdict(result).items()}
