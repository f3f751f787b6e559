"""The contracts between the services: each written and read one way, a bad or newer event
refused with a reason a person can act on, each consumer's table reading exactly what the
other side writes for it, and docs/events.md saying what the classes say."""

import ast
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import sidewalk
from sidewalk.deliveries import handlers as deliveries_handlers
from sidewalk.deliveries.providers import courier_handlers
from sidewalk.kernel.contracts import (
    CONTRACTS,
    AttemptCancelRequested,
    AttemptRequested,
    AttemptUpdated,
    Contract,
    FleetSnapshot,
    RobotPosition,
    TaskEnded,
    TaskProgress,
    TaskUndeliverable,
    TaskUnlocked,
    Unreadable,
    doc,
)
from sidewalk.kernel.events import Envelope
from sidewalk.operations import handlers as operations_handlers

NOW = datetime(2026, 12, 7, 18, 30, tzinfo=UTC)
PLACE = {"lat": 34.09, "lng": -118.36, "full_address": "8500 Sunset Blvd"}
PLAN = {
    "delivery_id": "dlv_1",
    "attempt_id": "att_1",
    "provider": "robot",
    "merchant_id": "mer_1",
    "pickup": PLACE,
    "dropoff": PLACE,
    "customer": {"name": "Ana Ruiz", "phone": "+13105550100"},
    "order_value_cents": 2350,
    "currency": "USD",
    "pickup_at": NOW,
}
TASK = {"task_id": "tsk_1", "robot_serial": "SW-1", "delivery_id": "dlv_1", "attempt_id": "att_1"}

# One event of each type of each contract.
EXAMPLES: dict[type[Contract], dict[str, Any]] = {
    AttemptRequested: {**PLAN, "sequence": 2},
    AttemptUpdated: PLAN,
    AttemptCancelRequested: {**PLAN, "reason": "changed mind", "goods_on_board": True},
    TaskProgress: {**TASK, "task_type": "delivery", "trip_id": "trp_1", "trip_type": "to_pickup"},
    TaskEnded: {**TASK, "task_type": "delivery", "reason": "robot_fault"},
    TaskUnlocked: {**TASK, "task_type": "delivery", "by": "pilot", "lat": 34.0, "lng": -118.0},
    TaskUndeliverable: {**TASK, "task_type": "delivery", "action": "dispose", "reason": "gone"},
    RobotPosition: {**TASK, "task_type": "return", "lat": 34.0, "lng": -118.0, "taken_at": NOW},
    FleetSnapshot: {
        "area_id": "weho",
        "taken_at": NOW,
        "robots": [[34, -118, 0, 1.6]],
        "pending": 3,
    },
}


@pytest.mark.parametrize("contract", CONTRACTS, ids=lambda c: c.__name__)
def test_every_contract_reads_back_what_it_wrote_for_each_of_its_types(
    contract: type[Contract],
) -> None:
    told = contract.model_validate(EXAMPLES[contract])
    for type_ in contract.TYPES:
        envelope = told.envelope(occurred_at=NOW, type_=type_)
        assert set(envelope.subject) <= set(contract.SUBJECT)
        assert not set(envelope.payload) & set(contract.SUBJECT)
        assert envelope.schema_version == contract.SCHEMA_VERSION
        # Through JSON, as it travels.
        assert contract.read(Envelope.from_json(envelope.to_json())) == told


def test_a_contract_of_one_type_needs_no_type_and_refuses_another() -> None:
    told = AttemptUpdated.model_validate(PLAN)
    assert told.envelope(occurred_at=NOW).type == "attempt.updated"
    with pytest.raises(ValueError, match=r"not a attempt\.requested event"):
        told.envelope(occurred_at=NOW, type_="attempt.requested")
    with pytest.raises(ValueError, match="TaskProgress is of several types: say which"):
        TaskProgress.model_validate(EXAMPLES[TaskProgress]).envelope(occurred_at=NOW)


def _event(type_: str, payload: dict[str, Any], version: int = 1) -> Envelope:
    return Envelope.new(
        type_,
        "operations",
        occurred_at=NOW,
        subject={"task_id": "tsk_1", "delivery_id": "dlv_1"},
        payload=payload,
        schema_version=version,
    )


def test_an_event_that_does_not_match_says_which_fields_are_wrong() -> None:
    bad = _event("robot.position", {"task_type": "delivery", "lat": 95.0, "taken_at": "noon"})
    with pytest.raises(Unreadable) as refused:
        RobotPosition.read(bad)
    said = str(refused.value)
    assert said.startswith("robot.position does not match RobotPosition: ")
    assert "lat: Input should be less than or equal to 90" in said
    assert "lng: Field required" in said
    assert "taken_at: Input should be a valid datetime" in said
    assert "task_type" not in said


def test_a_newer_version_or_another_type_is_refused_and_a_new_field_ignored() -> None:
    fine = {"task_type": "delivery", "reason": "robot_fault", "added_later": [1, 2]}
    assert TaskEnded.read(_event("task.failed", fine)).reason == "robot_fault"
    with pytest.raises(Unreadable, match="schema version 2: this service reads TaskEnded up to"):
        TaskEnded.read(_event("task.failed", fine, version=2))
    with pytest.raises(Unreadable, match=r"task\.failed is not read as TaskProgress"):
        TaskProgress.read(_event("task.failed", fine))


def test_a_writer_is_refused_what_its_reader_would_refuse() -> None:
    with pytest.raises(ValueError, match="lng"):
        RobotPosition.write(
            "robot.position", occurred_at=NOW, task_id="tsk_1", task_type="delivery", lat=1.0
        )


def _types(source: str) -> frozenset[str]:
    return frozenset(t for c in CONTRACTS if source == c.SOURCE for t in c.TYPES)


def test_each_consumer_reads_exactly_the_contracts_the_other_side_writes_for_it() -> None:
    assert deliveries_handlers.ROUTES.types == _types("operations")
    assert operations_handlers.ROUTES.types == _types("deliveries")
    assert courier_handlers.ROUTES.types == _types("deliveries")


SRC = Path(sidewalk.__file__).parent
# Where an envelope may be made: the contracts, and operations' own events (no contract).
ENVELOPE_MAKERS = {"kernel/events.py", "kernel/contracts/base.py", "operations/uow.py"}


def test_no_module_makes_an_envelope_but_the_contracts() -> None:
    makers = {
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "new"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "Envelope"
    }
    assert makers <= ENVELOPE_MAKERS


def test_docs_events_md_says_what_the_contracts_say() -> None:
    events_md = Path(__file__).parents[2] / "docs" / "events.md"
    text = events_md.read_text()
    assert doc.rewritten(text) == text, "run `make docs`: the contracts changed"
    for contract in CONTRACTS:
        assert f"`{contract.__name__}` v{contract.SCHEMA_VERSION}" in text
