"""`sidewalk worker …`: the background jobs of the production layout, each its own process
beside the HTTP servers, as many of each as wanted (they share work through the database and
the bus: outbox rows and webhook messages are claimed with SKIP LOCKED, NATS consumers are
durable and shared, and one dispatcher acts on an area at a time). Ctrl-C or SIGTERM stops a
worker after the piece of work under way."""

import asyncio
import signal
from collections.abc import Awaitable, Callable
from typing import Annotated

import typer
from rich.console import Console

from sidewalk.bootstrap import Platform, bootstrap
from sidewalk.kernel.settings import Settings

worker_app = typer.Typer(help="Background workers of the production layout.", no_args_is_help=True)
errors = Console(stderr=True)

SERVICES = ("deliveries", "operations")


def _run(job: Callable[[Platform, asyncio.Event], Awaitable[None]], what: str) -> None:
    """Run `job` on a fresh platform until a signal sets its stop event."""
    platform = bootstrap(Settings())

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        errors.print(f"{what}: running (Ctrl-C stops)")
        await job(platform, stop)
        errors.print(f"{what}: stopped")

    try:
        asyncio.run(main())
    finally:
        platform.close()


@worker_app.command("events")
def worker_events(
    services: Annotated[
        list[str] | None,
        typer.Argument(help="deliveries and/or operations (default: both).", show_default=False),
    ] = None,
) -> None:
    """Relay the services' outboxes to the bus and handle the other service's events: what
    `serve` does in-process, for HTTP servers run with the bus's events left to workers."""
    chosen = tuple(services or SERVICES)
    unknown = sorted(set(chosen) - set(SERVICES))
    if unknown:
        errors.print(f"[red]error[/red]: unknown service(s) {', '.join(unknown)}")
        raise typer.Exit(code=2)

    from sidewalk.app import service_events  # each command loads only what it runs

    async def job(platform: Platform, stop: asyncio.Event) -> None:
        async with service_events(platform, *chosen):
            await stop.wait()

    _run(job, f"events of {', '.join(chosen)}")


@worker_app.command("dispatch")
def worker_dispatch() -> None:
    """The dispatcher, every `dispatch_interval_s`, telling the fleet's state as it goes; any
    number may run (one acts on an area at a time)."""

    from sidewalk.operations.dispatcher import DispatchLoop

    async def job(platform: Platform, stop: asyncio.Event) -> None:
        loop = DispatchLoop(platform.operations)
        loop.start()
        await stop.wait()
        await asyncio.to_thread(loop.stop)

    _run(job, "dispatcher")


@worker_app.command("couriers")
def worker_couriers() -> None:
    """Hand courier attempts to the courier network (`courier_provider`) and, for the
    simulated one, run its clock; run `serve deliveries` with SIDEWALK_COURIERS_IN_SERVER=0."""

    from sidewalk.app import service_events

    async def job(platform: Platform, stop: asyncio.Event) -> None:
        async with service_events(platform, "couriers"):
            await stop.wait()

    _run(job, "couriers")


@worker_app.command("webhooks")
def worker_webhooks() -> None:
    """Send the merchants' webhooks, retrying on the stored schedule; run `serve deliveries`
    with SIDEWALK_WEBHOOKS_IN_SERVER=0. Several may run: each message is leased to one."""

    from sidewalk.deliveries.webhook_sender import WebhookSender

    async def job(platform: Platform, stop: asyncio.Event) -> None:
        await WebhookSender(platform.deliveries).run(stop)

    _run(job, "webhook sender")


@worker_app.command("warehouse")
def worker_warehouse() -> None:
    """Mirror both services into the warehouse every `warehouse_sync_interval_s` (what
    `serve all` does in-process); one is enough, and a second would only repeat its work."""

    from sidewalk.warehouse.job import sync_on_schedule

    async def job(platform: Platform, stop: asyncio.Event) -> None:
        await sync_on_schedule(platform.settings, stop)

    _run(job, "warehouse sync")
