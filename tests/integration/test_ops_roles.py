"""The whole role matrix of the ops API: every route, called by each kind of caller, is allowed
or answers 403, as `domain.PERMISSIONS` and the robots' own-robot rule say; without a token,
401. A test also checks that the matrix names every ops route, so a new one cannot slip by."""

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.routing import APIRoute

from sidewalk.operations.domain import OperatorRole
from tests.fleet import MELROSE, Fleet

PILOT, SUPERVISOR, ADMIN, ROBOT = "pilot", "supervisor", "admin", "robot"
READERS = {PILOT, SUPERVISOR, ADMIN}
MANAGERS = {SUPERVISOR, ADMIN}
counter = itertools.count()


@dataclass
class World:
    fleet: Fleet
    tokens: dict[str, str]
    pilot_id: str
    hub_id: str
    started_task: str
    started_trip: str
    pending_task: str


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    allowed: set[str]
    path: Callable[[World], str]
    body: Callable[[World], Any] = lambda w: None
    stream: bool = False  # an endless answer (server-sent events): only its status is read


def _n() -> int:
    return next(counter)


MATRIX = [
    Route("GET", "/ops/v1/robots", READERS, lambda w: "/ops/v1/robots"),
    Route(
        "POST",
        "/ops/v1/robots",
        MANAGERS,
        lambda w: "/ops/v1/robots",
        lambda w: {"serial": f"NEW-{_n()}", "display_name": "New"},
    ),
    # The pilot supervises SW-1 (its task has started) but not SW-2.
    Route("GET", "/ops/v1/robots/{serial}", READERS, lambda w: "/ops/v1/robots/SW-1"),
    Route("GET", "/ops/v1/robots/{serial}", MANAGERS, lambda w: "/ops/v1/robots/SW-2"),
    Route(
        "POST",
        "/ops/v1/robots/{serial}/maintenance",
        MANAGERS,
        lambda w: "/ops/v1/robots/SW-2/maintenance",
        lambda w: {"on": False},
    ),
    Route(
        "POST",
        "/ops/v1/robots/{serial}/token",
        MANAGERS,
        lambda w: "/ops/v1/robots/SW-3/token",
    ),
    Route(
        "POST",
        "/ops/v1/robots/{serial}/telemetry",
        {ROBOT},
        lambda w: "/ops/v1/robots/SW-1/telemetry",
        lambda w: {"lat": 34.0901, "lng": -118.3617, "battery_pct": 80},
    ),
    # SW-1 is not at a door: whoever may open it is told so (409), the rest are refused.
    Route(
        "POST",
        "/ops/v1/robots/{serial}/unlock",
        READERS | {ROBOT},
        lambda w: "/ops/v1/robots/SW-1/unlock",
        lambda w: {"pin": "0000", "reason": "customer checked by phone"},
    ),
    Route(
        "POST",
        "/ops/v1/robots/{serial}/unlock",
        MANAGERS,
        lambda w: "/ops/v1/robots/SW-2/unlock",
        lambda w: {"reason": "customer checked by phone"},
    ),
    Route(
        "POST",
        "/ops/v1/robots/{serial}/undeliverable",
        READERS | {ROBOT},
        lambda w: "/ops/v1/robots/SW-1/undeliverable",
        lambda w: {"reason": "customer_unavailable"},
    ),
    Route(
        "POST",
        "/ops/v1/robots/{serial}/undeliverable",
        MANAGERS,
        lambda w: "/ops/v1/robots/SW-2/undeliverable",
    ),
    Route(
        "GET",
        "/ops/v1/robots/{serial}/state-history",
        READERS,
        lambda w: "/ops/v1/robots/SW-1/state-history",
    ),
    Route(
        "GET",
        "/ops/v1/robots/{serial}/state-history",
        MANAGERS,
        lambda w: "/ops/v1/robots/SW-2/state-history",
    ),
    Route(
        "GET",
        "/ops/v1/robots/{serial}/task",
        READERS | {ROBOT},
        lambda w: "/ops/v1/robots/SW-1/task",
    ),
    Route("GET", "/ops/v1/robots/{serial}/task", MANAGERS, lambda w: "/ops/v1/robots/SW-2/task"),
    Route("GET", "/ops/v1/tasks", READERS, lambda w: "/ops/v1/tasks"),
    Route(
        "POST",
        "/ops/v1/tasks",
        MANAGERS,
        lambda w: "/ops/v1/tasks",
        lambda w: {"type": "reposition", "robot_serial": "SW-3", "hub_id": w.hub_id},
    ),
    Route("GET", "/ops/v1/tasks/{task_id}", READERS, lambda w: f"/ops/v1/tasks/{w.started_task}"),
    Route("GET", "/ops/v1/tasks/{task_id}", MANAGERS, lambda w: f"/ops/v1/tasks/{w.pending_task}"),
    Route(
        "POST",
        "/ops/v1/tasks/{task_id}/reassign",
        MANAGERS,
        lambda w: f"/ops/v1/tasks/{w.pending_task}/reassign",
        lambda w: {},
    ),
    Route(
        "POST",
        "/ops/v1/tasks/{task_id}/cancel",
        MANAGERS,
        lambda w: f"/ops/v1/tasks/{w.pending_task}/cancel",
    ),
    Route(
        "POST",
        "/ops/v1/trips/{trip_id}/events",
        MANAGERS | {ROBOT},
        lambda w: f"/ops/v1/trips/{w.started_trip}/events",
        lambda w: {"event": "started"},
    ),
    Route("GET", "/ops/v1/operators", MANAGERS, lambda w: "/ops/v1/operators"),
    Route(
        "POST",
        "/ops/v1/operators",
        {ADMIN},
        lambda w: "/ops/v1/operators",
        lambda w: {"email": f"new{_n()}@example.com", "role": "pilot"},
    ),
    Route("GET", "/ops/v1/operators/me", READERS, lambda w: "/ops/v1/operators/me"),
    Route(
        "GET",
        "/ops/v1/operators/{operator_id}",
        READERS,
        lambda w: f"/ops/v1/operators/{w.pilot_id}",
    ),
    Route(
        "PATCH",
        "/ops/v1/operators/{operator_id}",
        {PILOT, ADMIN},  # the pilot themselves, or an admin
        lambda w: f"/ops/v1/operators/{w.pilot_id}",
        lambda w: {"status": "available"},
    ),
    Route(
        "POST",
        "/ops/v1/operators/{operator_id}/token",
        {PILOT, ADMIN},  # their own, or anyone's for an admin
        lambda w: f"/ops/v1/operators/{w.pilot_id}/token",
    ),
    Route("GET", "/ops/v1/pilot-assignments", READERS, lambda w: "/ops/v1/pilot-assignments"),
    Route(
        "GET",
        "/ops/v1/pilot-assignments/active",
        READERS,
        lambda w: "/ops/v1/pilot-assignments/active",
    ),
    Route("GET", "/ops/v1/hubs", READERS, lambda w: "/ops/v1/hubs"),
    Route(
        "POST",
        "/ops/v1/hubs",
        MANAGERS,
        lambda w: "/ops/v1/hubs",
        lambda w: {"name": f"Hub {_n()}", "lat": 34.09, "lng": -118.37},
    ),
    Route("POST", "/ops/v1/dispatch/run", MANAGERS, lambda w: "/ops/v1/dispatch/run"),
    Route("GET", "/ops/v1/board", READERS, lambda w: "/ops/v1/board"),
    Route("GET", "/ops/v1/board/live", READERS, lambda w: "/ops/v1/board/live", stream=True),
    Route("GET", "/ops/v1/areas", READERS, lambda w: "/ops/v1/areas"),
    # No such alert stands: operators are told so (404), a robot may not ask at all.
    Route(
        "POST",
        "/ops/v1/alerts/{alert_id}/acknowledge",
        READERS,
        lambda w: "/ops/v1/alerts/fault:SW-2:1/acknowledge",
    ),
]


@pytest.fixture
def world(fleet: Fleet) -> World:
    pilot = fleet.operator(OperatorRole.PILOT)
    supervisor = fleet.operator(OperatorRole.SUPERVISOR)
    admin = fleet.operator(OperatorRole.ADMIN)
    hub = fleet.hub()
    robot = fleet.robot("SW-1")
    started = fleet.delivery_task(1)
    fleet.dispatch()
    fleet.report(started.trips[0].id, "started")  # the pilot now supervises SW-1
    fleet.robot("SW-2", where=MELROSE)
    fleet.robot("SW-3", where=MELROSE)
    pending = fleet.delivery_task(2, pickup=MELROSE)
    return World(
        fleet,
        {PILOT: pilot.token, SUPERVISOR: supervisor.token, ADMIN: admin.token, ROBOT: robot},
        pilot.id,
        hub,
        started.id,
        started.trips[0].id,
        pending.id,
    )


def _call(world: World, route: Route, token: str | None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if route.stream:
        with world.fleet.http.stream(route.method, route.path(world), headers=headers) as answer:
            if answer.is_error:
                answer.read()
            return answer
    return world.fleet.http.request(
        route.method, route.path(world), json=route.body(world), headers=headers
    )


@pytest.mark.parametrize(
    "route", MATRIX, ids=[f"{r.method} {r.template} #{i}" for i, r in enumerate(MATRIX)]
)
def test_each_caller_is_allowed_exactly_what_the_matrix_says(world: World, route: Route) -> None:
    for caller in (PILOT, SUPERVISOR, ADMIN, ROBOT):
        answer = _call(world, route, world.tokens[caller])
        if caller in route.allowed:
            assert answer.status_code not in (401, 403), (caller, answer.text)
            assert answer.status_code < 500
        else:
            assert answer.status_code == 403, (caller, answer.status_code, answer.text)
            assert answer.json()["code"] == "forbidden"
    assert _call(world, route, None).status_code == 401
    assert _call(world, route, "opt_not-a-real-token").status_code == 401


def test_the_matrix_covers_every_ops_route(ops_client: Any) -> None:
    served = {
        (method, route.path)
        for route in ops_client.app.routes
        if isinstance(route, APIRoute) and route.path.startswith("/ops/v1")
        for method in route.methods
    }
    assert served == {(r.method, r.template) for r in MATRIX}
