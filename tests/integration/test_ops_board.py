"""The fleet board the ops dashboard reads, through the ops API: what each role sees, the
alerts a fleet raises and their acknowledgement, the day's figures, and the live stream."""

import json
from collections.abc import Iterator
from datetime import timedelta

from sidewalk.kernel.clock import ManualClock
from sidewalk.operations import operators
from sidewalk.operations.domain import OperatorRole, RobotState
from tests.fleet import MELROSE, Fleet


def _board(fleet: Fleet, token: str) -> dict:
    answer = fleet.get(token, "/ops/v1/board")
    assert answer.status_code == 200, answer.text
    body: dict = answer.json()
    return body


def _started(fleet: Fleet, serial: str, n: int = 1) -> str:
    """A delivery task dispatched to `serial` whose first leg has begun; its id."""
    task = fleet.delivery_task(n)
    assert fleet.dispatch().assigned == 1
    assigned = fleet.task(task.id)
    assert assigned.robot_serial == serial
    fleet.report(assigned.trips[0].id, "started")
    return task.id


def test_a_supervisor_sees_the_whole_fleet_and_a_pilot_only_their_robots(fleet: Fleet) -> None:
    supervisor = fleet.operator(OperatorRole.SUPERVISOR)
    pilot = fleet.operator(OperatorRole.PILOT)
    other = fleet.operator(OperatorRole.PILOT)
    fleet.hub()
    fleet.robot("SW-1")
    fleet.robot("SW-2", where=MELROSE)
    task_id = _started(fleet, "SW-1")
    supervising = fleet.task(task_id)
    watcher = next(
        p for p in (pilot, other) if fleet.get(p.token, f"/ops/v1/tasks/{task_id}").is_success
    )
    assert supervising.status == "in_progress"

    everything = _board(fleet, supervisor.token)
    assert [r["serial"] for r in everything["robots"]] == ["SW-1", "SW-2"]
    assert [t["id"] for t in everything["tasks"]] == [task_id]
    assert everything["tasks"][0]["pilot"]["pilot_id"] == watcher.id
    assert {p["id"] for p in everything["pilots"]} == {pilot.id, other.id}
    assert [h["name"] for h in everything["hubs"]] == ["Central"]
    assert everything["operator"]["role"] == "supervisor"

    mine = _board(fleet, watcher.token)
    assert [r["serial"] for r in mine["robots"]] == ["SW-1"]
    assert [t["id"] for t in mine["tasks"]] == [task_id]
    assert [p["id"] for p in mine["pilots"]] == [watcher.id]
    assert mine["pilots"][0]["robots"] == 1

    idle = other if watcher is pilot else pilot
    nothing = _board(fleet, idle.token)
    assert nothing["robots"] == []
    assert nothing["tasks"] == []
    assert nothing["alerts"] == []


def test_a_robot_token_and_no_token_get_no_board(fleet: Fleet) -> None:
    robot_token = fleet.robot("SW-1")
    assert fleet.get(robot_token, "/ops/v1/board").status_code == 403
    assert fleet.http.get("/ops/v1/board").status_code == 401
    assert fleet.http.get("/ops/v1/board/live").status_code == 401


def test_faults_low_batteries_waiting_tasks_and_unwatched_robots_raise_alerts(
    fleet: Fleet, clock: ManualClock
) -> None:
    supervisor = fleet.operator(OperatorRole.SUPERVISOR)
    fleet.robot("SW-1")
    started = _started(fleet, "SW-1")  # no pilot on duty: it runs unwatched
    fleet.robot("SW-2", where=MELROSE, state=RobotState.FAULT)
    fleet.robot("SW-3", where=MELROSE, state=RobotState.CHARGING, battery=5)  # on a charger
    fleet.robot("SW-4", where=MELROSE, battery=9)  # below its low mark (20 % by default)
    waiting = fleet.delivery_task(2, pickup=MELROSE)

    assert _kinds(_board(fleet, supervisor.token)) == {
        ("fault", "SW-2", None),
        ("no_pilot", "SW-1", started),
        ("low_battery", "SW-4", None),
    }
    clock.advance(timedelta(seconds=fleet.platform.settings.alert_task_wait_s + 1))
    board = _board(fleet, supervisor.token)
    assert ("task_waiting", None, waiting.id) in _kinds(board)
    assert board["alerts"][0]["severity"] == "critical"  # the critical ones first
    assert board["figures"]["open_alerts"] == 4
    assert board["figures"]["tasks_waiting"] == 1


def _kinds(board: dict) -> set[tuple[str, str | None, str | None]]:
    return {(a["kind"], a["robot_serial"], a["task_id"]) for a in board["alerts"]}


def test_an_alert_is_acknowledged_once_by_whoever_may_see_it(fleet: Fleet) -> None:
    supervisor = fleet.operator(OperatorRole.SUPERVISOR)
    pilot = fleet.operator(OperatorRole.PILOT)
    fleet.robot("SW-2", where=MELROSE, state=RobotState.FAULT)
    (alert,) = _board(fleet, supervisor.token)["alerts"]
    path = f"/ops/v1/alerts/{alert['id']}/acknowledge"

    refused = fleet.post(pilot.token, path)  # not one of the pilot's robots
    assert refused.status_code == 404
    assert refused.json()["code"] == "alert_not_found"

    first = fleet.post(supervisor.token, path)
    assert first.status_code == 200, first.text
    assert first.json()["acknowledged_by"] == supervisor.id
    again = fleet.post(fleet.operator(OperatorRole.ADMIN).token, path)
    assert again.json()["acknowledged_by"] == supervisor.id
    assert again.json()["acknowledged_at"] == first.json()["acknowledged_at"]
    board = _board(fleet, supervisor.token)
    assert board["alerts"][0]["acknowledged_by"] == supervisor.id
    assert board["figures"]["open_alerts"] == 0

    gone = fleet.post(supervisor.token, "/ops/v1/alerts/fault:SW-9:1/acknowledge")
    assert gone.status_code == 404
    assert fleet.post(supervisor.token, "/ops/v1/alerts/not an id/acknowledge").status_code == 422


def test_a_fault_that_ends_and_comes_back_is_a_new_alert(fleet: Fleet, clock: ManualClock) -> None:
    supervisor = fleet.operator(OperatorRole.SUPERVISOR)
    fleet.robot("SW-2", where=MELROSE, state=RobotState.FAULT)
    (first,) = _board(fleet, supervisor.token)["alerts"]
    fleet.post(supervisor.token, f"/ops/v1/alerts/{first['id']}/acknowledge")
    clock.advance(timedelta(minutes=5))
    fleet.robot_report("SW-2", MELROSE, state=RobotState.IDLE)
    assert _board(fleet, supervisor.token)["alerts"] == []
    clock.advance(timedelta(minutes=5))
    fleet.robot_report("SW-2", MELROSE, state=RobotState.FAULT)
    (second,) = _board(fleet, supervisor.token)["alerts"]
    assert second["id"] != first["id"]
    assert second["acknowledged_by"] is None


def test_the_figures_count_the_day(fleet: Fleet) -> None:
    supervisor = fleet.operator(OperatorRole.SUPERVISOR)
    fleet.operator(OperatorRole.PILOT)
    fleet.robot("SW-1")
    task_id = _started(fleet, "SW-1")
    task = fleet.task(task_id)
    for trip, events in ((task.trips[0], ("arrived", "completed")), (task.trips[1], ())):
        for event in events:
            fleet.report(trip.id, event)
    for event in ("started", "arrived"):
        fleet.report(task.trips[1].id, event)
    fleet.open_door("SW-1")
    fleet.report(task.trips[1].id, "completed")

    figures = _board(fleet, supervisor.token)["figures"]
    assert figures["tasks_completed"] == 1
    assert figures["deliveries_completed"] == 1
    assert figures["mean_delivery_minutes"] == 0  # the test clock did not move
    assert figures["robots_in_service"] == 1
    assert figures["robots_on_task"] == 0


def test_the_service_areas_come_as_geojson(fleet: Fleet) -> None:
    pilot = fleet.operator(OperatorRole.PILOT)
    answer = fleet.get(pilot.token, "/ops/v1/areas")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/geo+json")
    assert answer.json()["features"][0]["geometry"]["type"] in {"Polygon", "MultiPolygon"}


def test_the_live_board_streams_boards_and_ends_when_the_token_stops_working(
    fleet: Fleet,
) -> None:
    admin = fleet.operator(OperatorRole.ADMIN)
    fleet.robot("SW-1")
    fleet.platform.settings.dashboard_refresh_s = 0.01
    with fleet.http.stream("GET", "/ops/v1/board/live", headers=admin.auth) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        first = _events(lines)
        operators.issue_token(fleet.ctx, admin.id)  # the old token stops working
        rest = _events(lines, until="signed_out")
    assert first[0][0] == "board"
    assert json.loads(first[0][1])["robots"][0]["serial"] == "SW-1"
    assert rest[-1] == ("signed_out", "{}")
    assert {e for e, _ in rest[:-1]} <= {"board"}  # boards sent before it noticed


def _events(lines: Iterator[str], until: str = "") -> list[tuple[str, str]]:
    """The next event, or every event up to `until`, or to the end of the stream."""
    found: list[tuple[str, str]] = []
    event = ""
    for line in lines:
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: ") and event:
            found.append((event, line.removeprefix("data: ")))
            if not until or event == until:
                break
    return found
