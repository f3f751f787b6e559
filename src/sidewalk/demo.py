"""`sidewalk demo`: the platform on the embedded default (SQLite files under var/), with a
demo merchant whose fresh API key and a working curl example are printed at start."""

import json
import shlex
import socket

from rich.console import Console
from rich.panel import Panel

from sidewalk.bootstrap import Platform, bootstrap
from sidewalk.deliveries import merchants
from sidewalk.kernel.settings import Settings
from sidewalk.operations import operators
from sidewalk.operations.domain import OperatorRole
from sidewalk.serve_all import serve_all

DEMO_MERCHANT = "Sunset Bakery (demo)"
DEMO_ADMIN = "admin@demo.sidewalk.example"

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
    ops_port = port + 1
    for p in (port, ops_port):
        if not port_is_free(host, p):
            raise SystemExit(f"Port {p} on {host} is taken; run `sidewalk demo --port <another>`.")
    base = f"http://{host}:{port}"
    ops_base = f"http://{host}:{ops_port}"
    platform = bootstrap(Settings(public_base_url=base))
    ctx = platform.deliveries
    existing = merchants.merchant_named(ctx, DEMO_MERCHANT)
    if existing is None:
        created = merchants.create_merchant(ctx, DEMO_MERCHANT, partner_id="demo-marketplace")
        merchant_id, key = created.merchant.id, created.api_key
    else:
        merchant_id, key = existing.id, merchants.issue_api_key(ctx, existing.id)
    admin_token = _demo_admin(platform)

    console.print(
        Panel.fit(
            f"[bold]sidewalk[/bold] on the embedded default: {platform.deliveries_engine.url}\n\n"
            f"Merchant API  {base}/v1\n"
            f"API docs      {base}/docs\n"
            f"Merchant      {DEMO_MERCHANT} ({merchant_id})\n"
            f"API key       [bold green]{key}[/bold green]\n\n"
            f"Ops API       {ops_base}/ops/v1\n"
            f"Ops docs      {ops_base}/docs\n"
            f"Ops admin     {DEMO_ADMIN}\n"
            f"Admin token   [bold green]{admin_token}[/bold green]",
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
        f"  export SIDEWALK_OPS_TOKEN={admin_token}\n"
        f'  curl -s {ops_base}/ops/v1/robots -H "Authorization: Bearer $SIDEWALK_OPS_TOKEN"\n'
        "Ctrl-C stops the demo."
    )
    console.print(example, soft_wrap=True, highlight=False, markup=False)
    serve_all(platform, host, port, ops_port, duration=duration)
    console.print("demo stopped")


def _demo_admin(platform: Platform) -> str:
    """The demo's ops admin, with a fresh token each run (tokens are shown only once)."""
    ctx = platform.operations
    existing = operators.operator_by_email(ctx, DEMO_ADMIN)
    if existing is None:
        return operators.create_operator(ctx, DEMO_ADMIN, OperatorRole.ADMIN).token
    return operators.issue_token(ctx, existing.id)
