"""`sidewalk events …`: the events a service could not read (its dead letters), and replaying
one once the cause is fixed."""

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from sidewalk.bootstrap import Platform, bootstrap
from sidewalk.deliveries import handlers as deliveries_handlers
from sidewalk.kernel.dead_letters import DeadLetter, DeadLetters
from sidewalk.kernel.settings import Settings
from sidewalk.operations import handlers as operations_handlers

events_app = typer.Typer(help="Events between the services.", no_args_is_help=True)
console = Console()
errors = Console(stderr=True)

ServiceOpt = Annotated[
    str, typer.Option("--service", help="deliveries or operations: whose dead letters.")
]


def _service(name: str) -> str:
    if name not in ("deliveries", "operations"):
        errors.print(f"[red]error[/red]: unknown service {name!r} (deliveries or operations)")
        raise typer.Exit(code=2)
    return name


def _letter_dict(letter: DeadLetter) -> dict[str, Any]:
    return {
        "seq": letter.seq,
        "consumer": letter.consumer,
        "event_id": letter.event_id,
        "type": letter.type,
        "reason": letter.reason,
        "failed_at": letter.failed_at.isoformat(),
        "envelope": json.loads(letter.envelope.to_json()),
    }


def _dead_letters(platform: Platform, service: str) -> DeadLetters:
    if service == "deliveries":
        return deliveries_handlers.dead_letters(platform.deliveries)
    return operations_handlers.dead_letters(platform.operations)


@events_app.command("dead-letters")
def dead_letters(
    service: ServiceOpt = "deliveries",
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The events SERVICE could not read and has not replayed, oldest first, with why."""
    platform = bootstrap(Settings())
    try:
        letters = _dead_letters(platform, _service(service)).waiting(limit=limit)
    finally:
        platform.close()
    if as_json:
        typer.echo(json.dumps([_letter_dict(letter) for letter in letters]))
        return
    table = Table("seq", "failed at", "consumer", "type", "event", "reason", title="Dead letters")
    for letter in letters:
        table.add_row(
            str(letter.seq),
            letter.failed_at.isoformat(timespec="seconds"),
            letter.consumer,
            letter.type,
            letter.event_id,
            letter.reason,
        )
    console.print(table)


@events_app.command("replay")
def replay(
    seq: Annotated[int, typer.Argument(help="The dead letter's seq (see dead-letters).")],
    service: ServiceOpt = "deliveries",
) -> None:
    """Run the handler again on one dead letter, once its cause is fixed: applied, it leaves
    the list; failing again, it stays and the error is shown."""
    platform = bootstrap(Settings())
    try:
        replayed = _dead_letters(platform, _service(service)).replay(seq)
    except (KeyError, TypeError, ValueError) as error:
        errors.print(f"[red]still unreadable[/red]: {type(error).__name__}: {error}")
        raise typer.Exit(code=1) from None
    finally:
        platform.close()
    if replayed is None:
        errors.print(f"[red]error[/red]: no dead letter {seq} waiting in {service}")
        raise typer.Exit(code=1)
    console.print(f"replayed {replayed.type} {replayed.event_id} (dead letter {seq})")
