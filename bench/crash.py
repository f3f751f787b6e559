"""Crash run: the production layout (PostgreSQL, NATS JetStream, both services and the five
workers as separate processes) under a steady workload, while a random process is killed
with SIGKILL at random moments and started again, `--kills` times. Then the ordering stops,
the robots keep driving until everything has settled, and `crash_checks` reads the database:
every order exists once, every delivery ended, no event was lost or took effect twice, no
robot was ever on two active tasks, every webhook was sent and received.

The workload (`crash_workload`): merchants order about every `--order-every-s` each and
cancel some; robots drive their tasks over the ops API and now and then fault, so another
robot or a courier takes over; a webhook receiver keeps every message. The settings make
recovery quick enough for a short run: JetStream redelivers an event held by a dead consumer
after 5 s (`SIDEWALK_BUS_ACK_WAIT_S`) and a webhook held by a dead sender is due again after
5 s (`SIDEWALK_WEBHOOK_LEASE_S`).

Run: `make bench`, or `.venv/bin/python bench/crash.py [--kills 30] [--seed 1] [--quick]
[--json] [--output FILE]`. `--quick` kills each of the seven processes once, in a random
order, and writes nothing unless `--output` is given; the test suite runs it. Exits 1 when
an invariant does not hold, 2 when PostgreSQL or NATS is unreachable."""

import argparse
import asyncio
import json
import random
import shlex
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from crash_checks import Databases, check_all, counts, crossed_cancels, unsettled
from crash_workload import Order, Tally, WebhookReceiver, merchant, robot
from layouts import Layout, nats_reachable, production
from scratch_postgres import postgres_reachable
from sections import code_version, machine, write_section

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Crash (bench/crash.py)"
console = Console(stderr=True)

SETTINGS = {
    "SIDEWALK_DISPATCH_INTERVAL_S": "0.5",
    "SIDEWALK_BUS_ACK_WAIT_S": "5",
    "SIDEWALK_WEBHOOK_TIMEOUT_S": "2",
    "SIDEWALK_WEBHOOK_LEASE_S": "5",
    "SIDEWALK_WEBHOOKS_ALLOW_PRIVATE_TARGETS": "1",
    # A quick simulated courier network, so that fallbacks end within seconds.
    "SIDEWALK_COURIER_ACCEPT_DELAY_S": "0.3",
    "SIDEWALK_COURIER_SPEED_MPS": "2000",
    "SIDEWALK_COURIER_FAILURE_RATE": "0",
    "SIDEWALK_COURIER_SIM_TICK_S": "0.3",
    "SIDEWALK_COURIER_PICKUP_DWELL_S": "1",
    "SIDEWALK_COURIER_DROPOFF_DWELL_S": "1",
}


@dataclass(frozen=True)
class Plan:
    kills: int
    gap_s: tuple[float, float]  # wait before each kill
    down_s: tuple[float, float]  # how long the killed process stays dead
    robots: int
    merchants: int
    order_every_s: float
    cancel_rate: float
    fault_rate: float
    step_s: float
    settle_s: float
    each_once: bool  # kill every process once, in a random order
    seed: int


@dataclass
class Kill:
    process: str
    at_s: float  # since the workload began
    down_s: float
    back_s: float  # from the kill until it answered again


@dataclass
class Outcome:
    kills: list[Kill]
    orders: int
    answered: int
    tally: Tally
    settled_in_s: float | None
    counts: dict[str, Any]
    violations: list[str]
    took_s: float
    refused: dict[str, int] = field(default_factory=dict)


def prepare(layout: Layout, plan: Plan) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """Merchants (id, key) and robots (serial → token), made through the service layer."""
    from sidewalk.deliveries import merchants
    from sidewalk.operations import robots

    with layout.platform() as made:
        keys = []
        for i in range(plan.merchants):
            m = merchants.create_merchant(made.deliveries, f"Crash Merchant {i}")
            keys.append((m.merchant.id, m.api_key))
        tokens = {
            f"SW-{i:03d}": robots.register_robot(
                made.operations, robots.RobotSpec(f"SW-{i:03d}", f"SW-{i:03d}")
            ).token
            for i in range(plan.robots)
        }
    return keys, tokens


def subscribe(layout: Layout, keys: list[tuple[str, str]], receiver: WebhookReceiver) -> None:
    """Each merchant's webhook endpoint, for every event type, at its own path."""
    from sidewalk.deliveries.webhook_domain import WEBHOOK_EVENT_TYPES

    for merchant_id, key in keys:
        made = httpx.post(
            f"{layout.api}/v1/webhook-endpoints",
            json={"url": f"{receiver.url}/{merchant_id}", "events": sorted(WEBHOOK_EVENT_TYPES)},
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        )
        made.raise_for_status()
        receiver.secrets[f"/{merchant_id}"] = made.json()["secret"]


def chaos(layout: Layout, plan: Plan, rng: random.Random, began: float, kills: list[Kill]) -> None:
    """Kill a process, leave it dead a moment, start it again and wait until it serves."""
    names = [p.name for p in layout.procs]
    order = rng.sample(names, len(names)) if plan.each_once else []
    for n in range(plan.kills):
        time.sleep(rng.uniform(*plan.gap_s))
        name = order[n % len(order)] if order else rng.choice(names)
        proc = layout.proc(name)
        killed = time.monotonic()
        proc.kill()
        down = rng.uniform(*plan.down_s)
        time.sleep(down)
        proc.start()
        proc.wait_ready()
        kills.append(Kill(name, killed - began, down, time.monotonic() - killed))
        console.print(
            f"killed {name} at {killed - began:.1f} s, back after {kills[-1].back_s:.1f} s"
        )


async def workload(
    layout: Layout, plan: Plan, keys: list[tuple[str, str]], tokens: dict[str, str],
    dbs: Databases, orders: list[Order], tally: Tally, kills: list[Kill],
) -> float | None:  # fmt: skip
    """The whole run; how long settling took after the last kill (None: it never settled)."""
    rng = random.Random(plan.seed)
    stop_ordering, stop_driving = asyncio.Event(), asyncio.Event()
    robots = [
        asyncio.create_task(
            robot(layout.ops, serial, token, orders, tally, stop_driving, plan.step_s,
                  plan.fault_rate, random.Random(rng.random()))
        )
        for serial, token in tokens.items()
    ]  # fmt: skip
    merchants = [
        asyncio.create_task(
            merchant(layout.api, key, merchant_id, orders, tally, stop_ordering,
                     plan.order_every_s, plan.cancel_rate, random.Random(rng.random()))
        )
        for merchant_id, key in keys
    ]  # fmt: skip
    began = time.monotonic()
    chaos_error: list[BaseException] = []

    def run_chaos() -> None:
        try:
            chaos(layout, plan, random.Random(rng.random()), began, kills)
        except BaseException as e:  # reported after the workload stops
            chaos_error.append(e)

    thread = threading.Thread(target=run_chaos, name="chaos")
    thread.start()
    try:
        while thread.is_alive():
            await asyncio.sleep(0.2)
        stop_ordering.set()
        await asyncio.gather(*merchants)
        if chaos_error:
            raise chaos_error[0]
        calm = time.monotonic()
        settled = await _settle(dbs, plan.settle_s)
        took = time.monotonic() - calm
        # The robots sign off, which the operations service tells as events in turn.
        stop_driving.set()
        await asyncio.gather(*robots)
        return took if settled and await _settle(dbs, plan.settle_s) else None
    finally:
        stop_ordering.set()
        stop_driving.set()
        await asyncio.gather(*merchants, *robots, return_exceptions=True)
        thread.join()


async def _settle(dbs: Databases, patience_s: float) -> bool:
    """Wait until nothing is moving any more (`crash_checks.unsettled`)."""
    deadline = time.monotonic() + patience_s
    while time.monotonic() < deadline:
        left = await asyncio.to_thread(unsettled, dbs)
        if not any(left.values()):
            return True
        await asyncio.sleep(0.5)
    console.print(f"[red]not settled after {patience_s:g} s[/red]: {left}")
    return False


def run(plan: Plan) -> Outcome:
    from sqlalchemy import create_engine

    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="sidewalk-bench-crash-") as scratch,
        production(Path(scratch), **SETTINGS) as layout,
        WebhookReceiver().running() as receiver,
    ):
        keys, tokens = prepare(layout, plan)
        layout.start()
        subscribe(layout, keys, receiver)
        engine = create_engine(layout.env["SIDEWALK_DELIVERIES_DATABASE_URL"])
        dbs = Databases(engine, engine)  # both services share the run's database
        orders: list[Order] = []
        tally, kills = Tally(), []
        try:
            settled = asyncio.run(workload(layout, plan, keys, tokens, dbs, orders, tally, kills))
            violations = check_all(dbs, orders, receiver.received)
            if settled is None:
                violations.insert(0, f"the platform did not settle within {plan.settle_s:g} s")
            done = counts(dbs)
            done["cancels_crossing_a_finished_delivery"] = crossed_cancels(dbs)
        except BaseException:
            logs = Path(scratch) / "logs"
            for log in sorted(logs.glob("*.log")):
                tail = log.read_text(errors="replace").splitlines()[-15:]
                console.print(f"[bold]{log.name}[/bold]\n" + "\n".join(tail))
            raise
        finally:
            engine.dispose()
        done["webhooks_received"] = len(receiver.received)
        done["webhooks_received_again"] = len(receiver.received) - len(
            {r.message_id for r in receiver.received}
        )
    return Outcome(
        kills=kills,
        orders=len(orders),
        answered=sum(1 for o in orders if o.delivery_id),
        tally=tally,
        settled_in_s=settled,
        counts=done,
        violations=violations,
        took_s=time.monotonic() - started,
        refused=dict(tally.refused),
    )


def render(plan: Plan, outcome: Outcome, argv: list[str]) -> str:
    by_process: dict[str, list[Kill]] = {}
    for k in outcome.kills:
        by_process.setdefault(k.process, []).append(k)
    c = outcome.counts
    lines = [
        SECTION,
        "",
        f"Command: `.venv/bin/python bench/crash.py{' ' + shlex.join(argv) if argv else ''}`  ",
        f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, code {code_version()}  ",
        f"Machine: {machine()}; PostgreSQL and NATS on the same machine.",
        "",
        f"The production layout (two servers and five workers, each its own process) under "
        f"{plan.merchants} merchants ordering about every {plan.order_every_s:g} s each "
        f"({plan.cancel_rate:.0%} cancelled) and {plan.robots} robots driving (faulting on "
        f"{plan.fault_rate:.0%} of trips, so another robot or a courier takes over); "
        f"{len(outcome.kills)} SIGKILLs of a random process, "
        f"{plan.gap_s[0]:g} to {plan.gap_s[1]:g} s apart, each started again after "
        f"{plan.down_s[0]:g} to {plan.down_s[1]:g} s. Seed {plan.seed}.",
        "",
        "| process | kills | back serving after, mean s | max s |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, ks in sorted(by_process.items()):
        backs = [k.back_s for k in ks]
        lines.append(f"| {name} | {len(ks)} | {statistics.mean(backs):.1f} | {max(backs):.1f} |")
    status = ", ".join(f"{n} {s}" for s, n in c["by_status"].items())
    settled = f"{outcome.settled_in_s:.1f} s" if outcome.settled_in_s is not None else "never"
    lines += [
        "",
        f"- Orders: {outcome.orders} placed, {outcome.answered} answered; deliveries: "
        f"{c['deliveries']} ({status}); {c['fell_back_to_courier']} went to a courier.",
        f"- Requests: {outcome.tally.requests:,}, of which {outcome.tally.retries:,} were tries "
        "again after no answer (a process was down) or a 5xx.",
        f"- Webhooks: {c['webhooks']:,} messages, {c['webhooks_received']:,} received "
        f"({c['webhooks_received_again']} of them a second time: at least once, same id).",
        f"- Settled {settled} after the last kill; the whole run took {outcome.took_s:.0f} s.",
        f"- Cancels told `cancelled` although the robot had handed the goods over: "
        f"{len(c['cancels_crossing_a_finished_delivery'])} (a robot's cancel is decided where "
        "the goods are, by the operations service; see `crash_checks.crossed_cancels`).",
        "- Invariants: "
        + (
            "all held (every order exists once, every delivery ended, both outboxes "
            "published, attempts and tasks agree (what the merchant was told is what the robot "
            "did), timelines "
            "replay, no robot on two tasks, "
            "every webhook sent and received with a valid signature)."
            if not outcome.violations
            else f"**{len(outcome.violations)} violated**: " + "; ".join(outcome.violations[:10])
        ),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--kills", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="each process killed once")
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--json", action="store_true", help="print the outcome as JSON")
    opts = parser.parse_args(argv)
    if not (postgres_reachable() and nats_reachable()):
        console.print("the crash run needs PostgreSQL (127.0.0.1:5432) and NATS (:4222)")
        sys.exit(2)
    plan = Plan(
        kills=7 if opts.quick else opts.kills,
        gap_s=(0.5, 1.5) if opts.quick else (2.0, 6.0),
        down_s=(0.0, 1.0),
        robots=4 if opts.quick else 6,
        merchants=3 if opts.quick else 4,
        order_every_s=3.0 if opts.quick else 4.0,
        cancel_rate=0.15,
        fault_rate=0.1,
        step_s=0.3,
        settle_s=90 if opts.quick else 180,
        each_once=opts.quick,
        seed=opts.seed,
    )
    outcome = run(plan)
    if opts.json:
        tally = {**vars(outcome.tally), "refused": dict(outcome.tally.refused)}
        kills = [asdict(k) for k in outcome.kills]
        print(json.dumps({**vars(outcome), "tally": tally, "kills": kills}, default=str))
    table = Table(title="crash run")
    for column in ("process", "kills", "back after (max s)"):
        table.add_column(column)
    for name, n in sorted(Counter(k.process for k in outcome.kills).items()):
        back = max(k.back_s for k in outcome.kills if k.process == name)
        table.add_row(name, str(n), f"{back:.1f}")
    console.print(table)
    console.print(outcome.counts)
    for v in outcome.violations:
        console.print(f"[red]violated[/red]: {v}")
    output = opts.output or (None if opts.quick else ROOT / "BENCHMARKS.md")
    if output is not None:
        write_section(
            output, SECTION, render(plan, outcome, argv if argv is not None else sys.argv[1:])
        )
        console.print(f"wrote {output}")
    sys.exit(1 if outcome.violations else 0)


if __name__ == "__main__":
    main()
