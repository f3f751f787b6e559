"""Events a service cannot read are not dropped: each is kept as a dead letter with the
reason, counted in `/metrics`, listed for an admin (`sidewalk events dead-letters`) and
replayed once the cause is fixed (`sidewalk events replay`). Errors that are not the event's
fault still propagate, for the bus to deliver it again."""

import json
from pathlib import Path
from typing import Any

import pytest

from sidewalk.bootstrap import Platform, bootstrap
from sidewalk.deliveries import handlers as deliveries_handlers
from sidewalk.kernel.events import Envelope
from sidewalk.kernel.settings import Settings
from sidewalk.operations import handlers as operations_handlers
from sidewalk.operations import repository
from tests.cli import run_sidewalk, sidewalk_env
from tests.fleet import Fleet
from tests.integration.test_metrics import _scrape, _value

PLACE = {"lat": 34.0901, "lng": -118.3617, "full_address": "8500 Sunset Blvd"}


def attempt_requested(platform: Platform, **payload: Any) -> Envelope:
    return Envelope.new(
        "attempt.requested",
        "deliveries",
        occurred_at=platform.clock.now(),
        subject={"delivery_id": "dlv_x1", "attempt_id": "att_x1"},
        payload={
            "provider": "robot",
            "sequence": 1,
            "merchant_id": "mer_x1",
            "currency": "USD",
            "pickup": PLACE,
            "dropoff": PLACE,
            **payload,
        },
    )


def task_of(platform: Platform) -> str | None:
    with platform.operations.uow() as uow:
        return repository.task_id_of_attempt(uow.connection, "att_x1")


def test_an_event_that_cannot_be_read_is_kept_with_its_reason_and_counted(
    platform: Platform, fleet: Fleet
) -> None:
    ops = platform.operations
    broken = attempt_requested(platform, pickup={"lat": "north", "lng": 1, "full_address": "?"})

    operations_handlers.handle(ops, broken)

    (letter,) = operations_handlers.dead_letters(ops).waiting()
    assert (letter.consumer, letter.event_id, letter.type) == (
        "operations",
        broken.id,
        "attempt.requested",
    )
    assert letter.reason.startswith("Unreadable: attempt.requested does not match AttemptRequested")
    assert "pickup.lat" in letter.reason
    assert "merchant_id" not in letter.reason  # only what is wrong
    assert letter.envelope == broken
    assert task_of(platform) is None  # nothing half-done
    samples = _scrape(fleet.http)
    assert _value(samples, "sidewalk_dead_letters", service="operations") == 1
    position = Envelope.new(
        "robot.position",
        "operations",
        occurred_at=platform.clock.now(),
        subject={"robot_serial": "SW-1", "delivery_id": "dlv_x1"},
        payload={"lat": None, "lng": 1.0, "taken_at": platform.clock.now().isoformat()},
    )
    deliveries_handlers.handle(platform.deliveries, position)
    (kept,) = deliveries_handlers.dead_letters(platform.deliveries).waiting()
    assert kept.type == "robot.position"


def test_a_dead_letter_is_replayed_once_its_cause_is_fixed(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    ops = platform.operations
    event = attempt_requested(platform)
    fixed = operations_handlers.tasks.create_delivery_task

    def bug(*args: Any, **kwargs: Any) -> str:
        raise TypeError("a use case that cannot read what it should")

    monkeypatch.setattr(operations_handlers.tasks, "create_delivery_task", bug)
    operations_handlers.handle(ops, event)
    (letter,) = operations_handlers.dead_letters(ops).waiting()
    with pytest.raises(TypeError):
        operations_handlers.replay_dead_letter(ops, letter.seq)  # not fixed yet: it stays
    assert operations_handlers.dead_letters(ops).count() == 1

    monkeypatch.setattr(operations_handlers.tasks, "create_delivery_task", fixed)
    replayed = operations_handlers.replay_dead_letter(ops, letter.seq)

    assert replayed is not None
    assert replayed.event_id == event.id
    assert task_of(platform) is not None
    assert operations_handlers.dead_letters(ops).count() == 0
    assert operations_handlers.replay_dead_letter(ops, letter.seq) is None
    # The inbox still applies the event once: handled again, nothing more is made.
    operations_handlers.handle(ops, event)
    assert operations_handlers.dead_letters(ops).count() == 0


def test_an_error_that_is_not_the_events_fault_is_raised_for_a_redelivery(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    def database_away(*args: Any, **kwargs: Any) -> str:
        raise ConnectionError("the database went away")

    monkeypatch.setattr(operations_handlers.tasks, "create_delivery_task", database_away)
    with pytest.raises(ConnectionError):
        operations_handlers.handle(platform.operations, attempt_requested(platform))
    assert operations_handlers.dead_letters(platform.operations).count() == 0


def test_an_admin_lists_and_replays_dead_letters_from_the_command_line(
    tmp_path: Path, database_url: str
) -> None:
    env = sidewalk_env(tmp_path, database_url)
    settings = Settings(
        var_dir=tmp_path,
        deliveries_database_url=env["SIDEWALK_DELIVERIES_DATABASE_URL"],
        operations_database_url=env.get("SIDEWALK_OPERATIONS_DATABASE_URL", ""),
    )
    platform = bootstrap(settings)
    try:
        broken = attempt_requested(platform, dropoff={"lng": 1.0})
        operations_handlers.handle(platform.operations, broken)
    finally:
        platform.close()

    listed = run_sidewalk(
        "events", "dead-letters", "--service", "operations", "--json", env=env, cwd=tmp_path
    )
    assert listed.returncode == 0, listed.stderr
    (letter,) = json.loads(listed.stdout)
    assert letter["event_id"] == broken.id
    assert "dropoff.lat: Field required" in letter["reason"]
    assert letter["envelope"]["payload"]["dropoff"] == {"lng": 1.0}

    again = run_sidewalk(
        "events", "replay", str(letter["seq"]), "--service", "operations", env=env, cwd=tmp_path
    )
    assert again.returncode == 1  # still unreadable: it stays
    assert "still unreadable" in again.stderr
    unknown = run_sidewalk(
        "events", "replay", "999", "--service", "operations", env=env, cwd=tmp_path
    )
    assert unknown.returncode == 1
    assert "no dead letter 999" in unknown.stderr
