"""`sidewalk demo`, what `make demo` runs: the whole platform on the embedded default (SQLite
files under var/demo/, the in-process bus), a simulated city living in it at an accelerated
clock, and both APIs open to a person beside it. It prints a merchant API key, an ops admin
token and a working curl example, then live counters until Ctrl-C or `--duration`.

The city starts afresh each run and warms up first (its first half hour is run as fast as
possible), so the demo opens on robots already on their way."""

import json
import random
import shlex
import shutil
import socket
import threading
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.panel import Panel

from sidewalk.bootstrap import Platform, bootstrap
from sidewalk.deliveries import merchants
from sidewalk.kernel.settings import Settings
from sidewalk.operations import operators
from sidewalk.operations.domain import OperatorRole
from sidewalk.serve_all import serve_all
from sidewalk.simulator import counters
from sidewalk.simulator.city import City, load_city
from sidewalk.simulator.live import DemoClock, LiveCity
from sidewalk.simulator.merchants import Dropoffs
from sidewalk.simulator.params import SimParams
from sidewalk.simulator.run import Databases, Simulation, platform_settings

DEMO_MERCHANT = "Your Shop (demo)"
DEMO_ADMIN = "admin@demo.sidewalk.example"
WARM_UP_S = 1800.0


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        return s.connect_ex((host, port)) != 0


def demo_params(
    *, robots: int, pilots: int, orders_per_hour: float, start_hour: float, seed: int
) -> SimParams:
    """A city in step with its clock: robots report often enough to be seen moving."""
    return SimParams(
        hours=24 * 60,
        robots=robots,
        pilots=pilots,
        orders_per_hour=orders_per_hour,
        seed=seed,
        start_local_hour=(start_hour - WARM_UP_S / 3600) % 24,
        telemetry_interval_s=15,
        idle_heartbeat_s=60,
        dispatch_interval_s=5,
        courier_tick_s=10,
        fleet_snapshot_interval_s=30,
        courier_position_every_s=30,
    )


DEMO_WAREHOUSE_SYNC_S = 60.0


def demo_settings(
    params: SimParams, city: City, var_dir: Path, base: str, speed: float
) -> Settings:
    """The platform's loops wait in real seconds while its limits count clock time: the loops'
    intervals are the simulation's, divided by the speed."""
    return platform_settings(params, city, var_dir, Databases()).model_copy(
        update={
            "public_base_url": base,
            # The person trying the demo receives webhooks on their own machine.
            "webhooks_allow_private_targets": True,
            "dispatch_interval_s": max(0.05, params.dispatch_interval_s / speed),
            "courier_sim_tick_s": max(0.05, params.courier_tick_s / speed),
            "fleet_snapshot_interval_s": max(0.1, params.fleet_snapshot_interval_s / speed),
            "webhook_poll_interval_s": max(0.05, 30 / speed),
            # Real seconds, as for the loops: the warehouse follows the city closely.
            "warehouse_sync_interval_s": DEMO_WAREHOUSE_SYNC_S,
        }
    )


def run_demo(
    host: str,
    port: int,
    duration: float | None,
    console: Console,
    *,
    city_path: Path | None = None,
    speed: float = 30.0,
    robots: int = 30,
    pilots: int = 6,
    orders_per_hour: float = 40.0,
    start_hour: float = 12.0,
    seed: int = 0,
) -> None:
    ops_port = port + 1
    for p in (port, ops_port):
        if not port_is_free(host, p):
            raise SystemExit(f"Port {p} on {host} is taken; run `sidewalk demo --port <another>`.")
    base, ops_base = f"http://{host}:{port}", f"http://{host}:{ops_port}"
    city = load_city(city_path)
    params = demo_params(
        robots=robots,
        pilots=pilots,
        orders_per_hour=orders_per_hour,
        start_hour=start_hour,
        seed=seed,
    )
    var_dir = Settings().var_dir / "demo"
    shutil.rmtree(var_dir, ignore_errors=True)
    clock = DemoClock(params.start_utc(city.utc_offset_h), speed)
    platform = bootstrap(demo_settings(params, city, var_dir, base, speed), clock=clock)
    sim = Simulation(platform, params, city, clock)
    live = LiveCity(sim, clock)
    try:
        with console.status(f"Setting up {city.name} and warming it up…"):
            sim.populate()
            live.warm_up(WARM_UP_S)
    except BaseException:  # Ctrl-C while warming up
        platform.close()
        raise
    key = merchants.create_merchant(
        platform.deliveries, DEMO_MERCHANT, partner_id="demo-marketplace", quote_lifetime_s=3600
    ).api_key
    admin_token = operators.create_operator(
        platform.operations, DEMO_ADMIN, OperatorRole.ADMIN
    ).token
    _print_welcome(console, platform, city, base, ops_base, key, admin_token, speed)
    live.start()
    stop_counters = threading.Event()
    shown = threading.Thread(
        target=_show_counters, args=(console, platform, city, speed, stop_counters), daemon=True
    )
    shown.start()

    def before_close() -> None:
        stop_counters.set()
        shown.join(5)
        live.stop()

    serve_all(platform, host, port, ops_port, duration=duration, before_close=before_close)
    console.print(
        f"demo stopped ({live.failures} agent steps failed)" if live.failures else "demo stopped"
    )


def _print_welcome(
    console: Console,
    platform: Platform,
    city: City,
    base: str,
    ops_base: str,
    key: str,
    admin_token: str,
    speed: float,
) -> None:
    console.print(
        Panel.fit(
            f"[bold]sidewalk[/bold] on the embedded default: {platform.deliveries_engine.url}\n"
            f"A simulated {city.name}: {len(city.merchants)} merchants, "
            f"{platform.settings.pilot_capacity} robots per pilot, "
            f"the clock at {speed:g} times real time\n\n"
            f"Merchant API  {base}/v1\n"
            f"API docs      {base}/docs\n"
            f"Merchant      {DEMO_MERCHANT}\n"
            f"API key       [bold green]{key}[/bold green]\n\n"
            f"Dashboard     {ops_base}/  (sign in with the admin token)\n"
            f"Ops API       {ops_base}/ops/v1\n"
            f"Ops docs      {ops_base}/docs\n"
            f"Ops admin     {DEMO_ADMIN}\n"
            f"Admin token   [bold green]{admin_token}[/bold green]",
            title="demo",
        )
    )
    first = city.merchants[0].place
    lat, lng = Dropoffs(city.polygons()).draw(random.Random(1))
    quote = {
        "external_reference_id": "order-1042",
        "pickup": {"lat": first.lat, "lng": first.lng, "full_address": first.address or first.name},
        "dropoff": {"lat": lat, "lng": lng, "full_address": "1 Main St, Apt 4"},
        "order_value_cents": 2350,
    }
    body = shlex.quote(json.dumps(quote))
    auth = "-H \"Authorization: Bearer $SIDEWALK_KEY\" -H 'Content-Type: application/json'"
    console.print(
        "Try it from another terminal:\n"
        f"  export SIDEWALK_KEY={key}\n"
        f"  curl -s -X POST {base}/v1/quotes {auth} -d {body}\n"
        f'  curl -s -X POST {base}/v1/deliveries {auth} -H "Idempotency-Key: order-1042-$RANDOM" '
        '-d \'{"quote_id": "<the id of the quote>"}\'\n'
        f"  export SIDEWALK_OPS_TOKEN={admin_token}\n"
        f'  curl -s {ops_base}/ops/v1/robots -H "Authorization: Bearer $SIDEWALK_OPS_TOKEN"\n'
        "Every order has a tracking page for its customer: its tracking_url.\n"
        f"The warehouse ({platform.settings.warehouse}) is synced every "
        f"{platform.settings.warehouse_sync_interval_s:g} s; between syncs:\n"
        f"  SIDEWALK_WAREHOUSE_URL={platform.settings.warehouse} sidewalk warehouse query "
        "deliveries_per_merchant_per_day\n"
        "Ctrl-C stops the demo.",
        soft_wrap=True,
        highlight=False,
        markup=False,
    )


def _show_counters(
    console: Console, platform: Platform, city: City, speed: float, stop: threading.Event
) -> None:
    """A live table on a terminal; a line every few seconds into a pipe or a log."""
    title = f"{city.name} at {speed:g} times real time"
    if not console.is_terminal:
        while not stop.wait(5):
            console.print(
                counters.line(platform, city.utc_offset_h), highlight=False, soft_wrap=True
            )
        return
    with Live(console=console, refresh_per_second=2, transient=False) as shown:
        while not stop.wait(0.5):
            shown.update(counters.table(platform, city.utc_offset_h, title))
