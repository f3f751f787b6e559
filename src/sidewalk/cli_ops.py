"""The operations commands of `sidewalk`: robots, operators, hubs, the dispatcher and the ops
server. Like the others, commands that create or list take `--json`."""

import json
import os
import signal
import threading
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from sidewalk.bootstrap import Platform, bootstrap
from sidewalk.kernel.errors import SidewalkError
from sidewalk.kernel.geo import LatLng
from sidewalk.kernel.settings import Settings
from sidewalk.operations import dispatcher, hubs, operators, robots
from sidewalk.operations.domain import OperatorRole
from sidewalk.operations.fleet import FleetTeller
from sidewalk.operations.views import hub_read, operator_read, robot_read

robots_app = typer.Typer(help="Robots and their tokens.", no_args_is_help=True)
operators_app = typer.Typer(help="Operators (pilots, supervisors, admins).", no_args_is_help=True)
hubs_app = typer.Typer(help="Hubs where robots charge and wait.", no_args_is_help=True)
dispatch_app = typer.Typer(help="The dispatcher.", no_args_is_help=True)

console = Console()
errors = Console(stderr=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document, nothing else.")]


def _fail(error: SidewalkError) -> typer.Exit:
    errors.print(f"[red]error[/red] ({error.code}): {error.detail}")
    return typer.Exit(code=2)


def _platform() -> Platform:
    return bootstrap(Settings())


def _echo(document: Any) -> None:
    typer.echo(json.dumps(document, default=str))


@robots_app.command("add")
def robots_add(
    serial: Annotated[str, typer.Option(help="The robot's serial number.")],
    name: Annotated[str, typer.Option(help="Its display name.")],
    hub: Annotated[str | None, typer.Option(help="Id of its home hub.")] = None,
    speed_mps: Annotated[float | None, typer.Option(min=0.1, help="Sidewalk speed.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Register a robot and print its token (shown this once only)."""
    platform = _platform()
    try:
        spec = robots.RobotSpec(serial, name, hub_id=hub, speed_mps=speed_mps)
        made = robots.register_robot(platform.operations, spec)
    except SidewalkError as e:
        raise _fail(e) from e
    finally:
        platform.close()
    if as_json:
        _echo({**robot_read(made.robot).model_dump(mode="json"), "token": made.token})
        return
    console.print(f"Robot [bold]{made.robot.serial}[/bold] ({made.robot.display_name}) registered")
    console.print(f"Token (shown once, keep it safe): [bold green]{made.token}[/bold green]")


@robots_app.command("list")
def robots_list(as_json: JsonFlag = False) -> None:
    """List the robots."""
    platform = _platform()
    try:
        found = [robot_read(r) for r in robots.list_robots(platform.operations)]
    finally:
        platform.close()
    if as_json:
        _echo([r.model_dump(mode="json") for r in found])
        return
    table = Table("serial", "name", "state", "battery", "area", "hub", title="Robots")
    for r in found:
        battery = f"{r.battery_pct:.0f} %" if r.battery_pct is not None else ""
        table.add_row(r.serial, r.display_name, r.state, battery, r.area_id or "", r.hub_id or "")
    console.print(table)


@operators_app.command("create")
def operators_create(
    email: Annotated[str, typer.Option(help="The operator's email address.")],
    role: Annotated[OperatorRole, typer.Option(help="pilot, supervisor or admin.")],
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create an operator and print their token (shown this once only)."""
    platform = _platform()
    try:
        made = operators.create_operator(platform.operations, email, role, display_name=name)
    except SidewalkError as e:
        raise _fail(e) from e
    finally:
        platform.close()
    if as_json:
        _echo({**operator_read(made.operator).model_dump(mode="json"), "token": made.token})
        return
    console.print(f"Operator [bold]{made.operator.email}[/bold] ({made.operator.role}) created")
    console.print(f"Token (shown once, keep it safe): [bold green]{made.token}[/bold green]")


@operators_app.command("list")
def operators_list(as_json: JsonFlag = False) -> None:
    """List the operators."""
    platform = _platform()
    try:
        found = [operator_read(o) for o in operators.list_operators(platform.operations)]
    finally:
        platform.close()
    if as_json:
        _echo([o.model_dump(mode="json") for o in found])
        return
    table = Table("id", "email", "role", "status", title="Operators")
    for o in found:
        table.add_row(o.id, o.email, o.role, o.status)
    console.print(table)


@hubs_app.command("add")
def hubs_add(
    name: Annotated[str, typer.Option(help="The hub's name.")],
    lat: Annotated[float, typer.Option(min=-90, max=90)],
    lng: Annotated[float, typer.Option(min=-180, max=180)],
    as_json: JsonFlag = False,
) -> None:
    """Add a hub where robots charge and wait."""
    platform = _platform()
    try:
        hub = hubs.add_hub(platform.operations, name, LatLng(lat, lng))
    except SidewalkError as e:
        raise _fail(e) from e
    finally:
        platform.close()
    if as_json:
        _echo(hub_read(hub).model_dump(mode="json"))
        return
    console.print(f"Hub [bold]{hub.name}[/bold] added: {hub.id} (area {hub.area_id or 'none'})")


@hubs_app.command("list")
def hubs_list(as_json: JsonFlag = False) -> None:
    """List the hubs."""
    platform = _platform()
    try:
        found = [hub_read(h) for h in hubs.list_hubs(platform.operations)]
    finally:
        platform.close()
    if as_json:
        _echo([h.model_dump(mode="json") for h in found])
        return
    table = Table("id", "name", "lat", "lng", "area", title="Hubs")
    for h in found:
        table.add_row(h.id, h.name, f"{h.lat:.5f}", f"{h.lng:.5f}", h.area_id or "")
    console.print(table)


@dispatch_app.command("run")
def dispatch_run(
    rounds: Annotated[
        int, typer.Option(min=0, help="Stop after this many rounds (0: until Ctrl-C).")
    ] = 1,
    interval: Annotated[
        float | None, typer.Option(min=0, help="Seconds between rounds (default: the setting).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Run dispatch rounds: with several dispatchers on one database, only one acts on an area
    at a time. Ctrl-C or SIGTERM stops it after the round under way, which is never cut short."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda _signum, _frame: stop.set())
    platform = _platform()
    fleet = FleetTeller(platform.operations)
    pause = platform.settings.dispatch_interval_s if interval is None else interval
    totals: dict[str, int] = {}
    try:
        with Progress(console=errors, transient=True, disable=as_json) as progress:
            bar = progress.add_task("dispatching", total=rounds or None)
            done = 0
            while (rounds == 0 or done < rounds) and not stop.is_set():
                try:
                    report = dispatcher.run_round(platform.operations)
                except Exception as e:  # a long-running dispatcher logs and goes on
                    if rounds != 0:
                        raise
                    errors.print(f"[red]dispatch round failed[/red]: {e!r}")
                    stop.wait(pause)
                    continue
                fleet.maybe_tell()
                for key, value in vars(report).items():
                    if isinstance(value, int):
                        totals[key] = totals.get(key, 0) + value
                done += 1
                progress.update(bar, advance=1)
                if rounds == 0 or done < rounds:
                    stop.wait(pause)
    finally:
        platform.close()
    if as_json:
        _echo(totals)
        return
    console.print(", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in totals.items()))


def serve_operations(host: str, port: int, workers: int, access_log: bool, dispatch: bool) -> None:
    import uvicorn

    from sidewalk.kernel.log_format import logging_config

    settings = Settings()
    bootstrap(settings).close()  # migrate once, before workers start
    os.environ["SIDEWALK_DISPATCH_IN_SERVER"] = "1" if dispatch else "0"
    if workers > 1:
        from sidewalk.ops_replicas import serve_replicated

        serve_replicated(Settings(), host, port, workers)
        return
    uvicorn.run(
        "sidewalk.app:operations_app_from_environment",
        factory=True,
        host=host,
        port=port,
        log_level=settings.log_level,
        log_config=logging_config(settings.log_format, settings.log_level),
        access_log=access_log,
    )
