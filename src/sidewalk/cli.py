"""The `sidewalk` command: one Typer app with a sub-app per concern. Commands that create or
list something take `--json` and then print exactly one JSON document and nothing else."""

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from sidewalk import cli_events, cli_ops, cli_sim, cli_warehouse, cli_worker
from sidewalk.bootstrap import Platform, bootstrap
from sidewalk.deliveries import merchants
from sidewalk.deliveries.models import Merchant
from sidewalk.kernel.errors import SidewalkError
from sidewalk.kernel.settings import Settings

app = typer.Typer(
    help="sidewalk: a delivery platform for fleets of sidewalk robots.", no_args_is_help=True
)
db_app = typer.Typer(help="The service databases.", no_args_is_help=True)
merchants_app = typer.Typer(help="Merchants and their API keys.", no_args_is_help=True)
serve_app = typer.Typer(help="Run the services over HTTP.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(merchants_app, name="merchants")
app.add_typer(serve_app, name="serve")
app.add_typer(cli_ops.robots_app, name="robots")
app.add_typer(cli_ops.operators_app, name="operators")
app.add_typer(cli_ops.hubs_app, name="hubs")
app.add_typer(cli_ops.dispatch_app, name="dispatch")
app.add_typer(cli_worker.worker_app, name="worker")
app.add_typer(cli_events.events_app, name="events")
app.add_typer(cli_warehouse.warehouse_app, name="warehouse")
app.command("simulate")(cli_sim.simulate_command)
app.command("plan")(cli_sim.plan_command)
app.command("sweep")(cli_sim.sweep_command)

console = Console()
errors = Console(stderr=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document, nothing else.")]


def _platform(**overrides: Any) -> Platform:
    return bootstrap(Settings(**overrides))


def _fail(error: SidewalkError) -> typer.Exit:
    errors.print(f"[red]error[/red] ({error.code}): {error.detail}")
    return typer.Exit(code=2)


def _merchant_dict(m: Merchant) -> dict[str, Any]:
    return {
        "id": m.id,
        "name": m.name,
        "partner_id": m.partner_id,
        "currency": m.currency,
        "base_fee_cents": m.base_fee_cents,
        "fee_per_km_cents": m.fee_per_km_cents,
        "max_robot_distance_m": m.max_robot_distance_m,
        "courier_fallback": m.courier_fallback,
        "max_attempts": m.max_attempts,
        "quote_lifetime_s": m.quote_lifetime_s,
        "created_at": m.created_at.isoformat().replace("+00:00", "Z"),
    }


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the databases to the newest schema."""
    platform = bootstrap(Settings())
    for service, engine in (
        ("deliveries", platform.deliveries_engine),
        ("operations", platform.operations_engine),
    ):
        console.print(f"{service} database is up to date: [bold]{engine.url!r}[/bold]")
    platform.close()


@merchants_app.command("create")
def merchants_create(
    name: Annotated[str, typer.Option(help="The merchant's name.")],
    partner_id: Annotated[
        str | None, typer.Option(help="The partner (marketplace) it comes through.")
    ] = None,
    currency: Annotated[str | None, typer.Option(help="ISO 4217 code of its fees.")] = None,
    base_fee_cents: Annotated[int | None, typer.Option(min=0)] = None,
    fee_per_km_cents: Annotated[int | None, typer.Option(min=0)] = None,
    max_robot_distance_m: Annotated[int | None, typer.Option(min=1)] = None,
    courier_fallback: Annotated[
        bool | None, typer.Option("--courier-fallback/--no-courier-fallback")
    ] = None,
    max_attempts: Annotated[
        int | None,
        typer.Option(min=1, max=10, help="Attempts per delivery, robots' and couriers' together."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a merchant and print its API key (shown this once only)."""
    platform = _platform()
    try:
        created = merchants.create_merchant(
            platform.deliveries,
            name,
            partner_id=partner_id,
            currency=currency,
            base_fee_cents=base_fee_cents,
            fee_per_km_cents=fee_per_km_cents,
            max_robot_distance_m=max_robot_distance_m,
            courier_fallback=courier_fallback,
            max_attempts=max_attempts,
        )
    except SidewalkError as e:
        raise _fail(e) from e
    finally:
        platform.close()
    if as_json:
        typer.echo(json.dumps({**_merchant_dict(created.merchant), "api_key": created.api_key}))
        return
    console.print(f"Merchant [bold]{created.merchant.name}[/bold] created: {created.merchant.id}")
    console.print(f"API key (shown once, keep it safe): [bold green]{created.api_key}[/bold green]")


@merchants_app.command("list")
def merchants_list(as_json: JsonFlag = False) -> None:
    """List the merchants."""
    platform = _platform()
    try:
        found = merchants.list_merchants(platform.deliveries)
    finally:
        platform.close()
    if as_json:
        typer.echo(json.dumps([_merchant_dict(m) for m in found]))
        return
    table = Table(
        "id",
        "name",
        "partner",
        "fees",
        "robot range",
        "courier fallback",
        "attempts",
        title="Merchants",
    )
    for m in found:
        table.add_row(
            m.id,
            m.name,
            m.partner_id or "",
            f"{m.base_fee_cents} + {m.fee_per_km_cents}/km {m.currency}",
            f"{m.max_robot_distance_m} m",
            "yes" if m.courier_fallback else "no",
            str(m.max_attempts),
        )
    console.print(table)


HostOpt = Annotated[str, typer.Option(help="Address to listen on.")]
PortOpt = Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)]


@serve_app.command("deliveries")
def serve_deliveries(
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = False,
) -> None:
    """Serve the merchant API (`/v1`) with uvicorn."""
    import uvicorn

    from sidewalk.kernel.log_format import logging_config

    os.environ.setdefault("SIDEWALK_PUBLIC_BASE_URL", f"http://{host}:{port}")
    settings = Settings()
    bootstrap(settings).close()  # migrate once, before workers start
    uvicorn.run(
        "sidewalk.app:deliveries_app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level,
        log_config=logging_config(settings.log_format, settings.log_level),
        access_log=access_log,
    )


@serve_app.command("operations")
def serve_operations(
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 8001,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = False,
    dispatch: Annotated[
        bool, typer.Option("--dispatch/--no-dispatch", help="Run the dispatcher in the server.")
    ] = True,
) -> None:
    """Serve the ops API (`/ops/v1`) with uvicorn, and the dispatcher beside it."""
    cli_ops.serve_operations(host, port, workers, access_log, dispatch)


@serve_app.command("all")
def serve_all_command(
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 8000,
    ops_port: Annotated[int, typer.Option(help="Port of the ops API.", min=1, max=65535)] = 8001,
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = False,
    ops_workers: Annotated[
        int,
        typer.Option(
            min=1, max=16, help="Processes serving the ops API (above 1: replicas; a large fleet)."
        ),
    ] = 1,
) -> None:
    """Serve both APIs, the dispatcher and the events between them in one process (the
    embedded layout; with SIDEWALK_BUS_URL=nats://… it also talks to other processes); with
    `--ops-workers N` above 1, N replica processes serve the ops API beside it."""
    from sidewalk.serve_all import serve_all

    os.environ.setdefault("SIDEWALK_PUBLIC_BASE_URL", f"http://{host}:{port}")
    console.print(
        f"merchant API on http://{host}:{port}/v1, ops API on http://{host}:{ops_port}/ops/v1, "
        f"ops dashboard on http://{host}:{ops_port}/"
    )
    serve_all(
        bootstrap(Settings()),
        host,
        port,
        ops_port,
        ops_workers=ops_workers,
        log_level="info",
        access_log=access_log,
    )


@app.command("demo")
def demo(
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 8000,
    duration: Annotated[
        float | None, typer.Option(help="Stop after this many seconds (default: until Ctrl-C).")
    ] = None,
    city: Annotated[
        Path | None, typer.Option(help="A city folder (default West Hollywood); docs/cities.md.")
    ] = None,
    speed: Annotated[
        float | None,
        typer.Option(min=1, max=300, help="Clock speed-up (default: the demo_speed setting, 30)."),
    ] = None,
    robots: Annotated[int, typer.Option(min=0, max=1000, help="Robots in the city.")] = 30,
    pilots: Annotated[int, typer.Option(min=0, max=100, help="Pilots on duty per shift.")] = 6,
    orders_per_hour: Annotated[
        float, typer.Option(min=0, help="Mean orders per hour over the day.")
    ] = 40.0,
    start_hour: Annotated[
        float, typer.Option(min=0, max=23.99, help="Local hour to open at.")
    ] = 12.0,
    seed: Annotated[int, typer.Option(help="Seed of the simulated city.")] = 0,
) -> None:
    """Run the platform with a simulated city living in it; print a working API key."""
    from sidewalk.demo import run_demo

    run_demo(
        host,
        port,
        duration,
        console,
        city_path=city,
        speed=speed or Settings().demo_speed,
        robots=robots,
        pilots=pilots,
        orders_per_hour=orders_per_hour,
        start_hour=start_hour,
        seed=seed,
    )


if __name__ == "__main__":
    app()
