"""`sidewalk demo`: the platform on the embedded default (SQLite files under var/), with a
demo merchant whose fresh API key and a working curl example are printed at start."""

import json
import shlex
import socket
import threading
import time

import uvicorn
from rich.console import Console
from rich.panel import Panel

from sidewalk.app import create_deliveries_app
from sidewalk.bootstrap import bootstrap
from sidewalk.deliveries import merchants
from sidewalk.kernel.settings import Settings

DEMO_MERCHANT = "Sunset Bakery (demo)"

EXAMPLE_QUOTE = {
    "external_reference_id": "order-1042",
    "pickup": {"lat": 34.0901, "lng": -118.3617, "full_address": "8500 Sunset Blvd"},
    "dropoff": {"lat": 34.0857, "lng": -118.3760, "full_address": "1 Main St, Apt 4"},
    "order_value_cents": 2350,
}


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        return s.connect_ex((host, port)) != 0


def run_demo(host: str, port: int, duration: float | None, console: Console) -> None:
    if not port_is_free(host, port):
        raise SystemExit(f"Port {port} on {host} is taken; run `sidewalk demo --port <another>`.")
    base = f"http://{host}:{port}"
    platform = bootstrap(Settings(public_base_url=base))
    ctx = platform.deliveries
    existing = merchants.merchant_named(ctx, DEMO_MERCHANT)
    if existing is None:
        created = merchants.create_merchant(ctx, DEMO_MERCHANT, partner_id="demo-marketplace")
        merchant_id, key = created.merchant.id, created.api_key
    else:
        merchant_id, key = existing.id, merchants.issue_api_key(ctx, existing.id)

    console.print(
        Panel.fit(
            f"[bold]sidewalk[/bold] on the embedded default: {platform.deliveries_engine.url}\n\n"
            f"Merchant API  {base}/v1\n"
            f"API docs      {base}/docs\n"
            f"Merchant      {DEMO_MERCHANT} ({merchant_id})\n"
            f"API key       [bold green]{key}[/bold green]",
            title="demo",
        )
    )
    body = shlex.quote(json.dumps(EXAMPLE_QUOTE))
    auth = "-H \"Authorization: Bearer $SIDEWALK_KEY\" -H 'Content-Type: application/json'"
    example = (
        "Try it from another terminal:\n"
        f"  export SIDEWALK_KEY={key}\n"
        f"  curl -s -X POST {base}/v1/quotes {auth} -d {body}\n"
        f'  curl -s -X POST {base}/v1/deliveries {auth} -H "Idempotency-Key: order-1042-$RANDOM" '
        '-d \'{"quote_id": "<the id of the quote>"}\'\n'
        "Ctrl-C stops the demo."
    )
    console.print(example, soft_wrap=True, highlight=False, markup=False)
    server = uvicorn.Server(
        uvicorn.Config(create_deliveries_app(platform), host=host, port=port, log_level="warning")
    )
    if duration is not None:
        threading.Thread(target=_stop_after, args=(server, duration), daemon=True).start()
    server.run()
    console.print("demo stopped")


def _stop_after(server: uvicorn.Server, seconds: float) -> None:
    time.sleep(seconds)
    server.should_exit = True
