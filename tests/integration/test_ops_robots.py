"""Robots over the ops API: registration with a token shown once, telemetry from the robot
itself only, maintenance, and a state history where no change is ever lost."""

from datetime import datetime, timedelta

from sidewalk.kernel.clock import ManualClock
from sidewalk.kernel.secrets import digest
from sidewalk.operations import access, robots
from sidewalk.operations.domain import OperatorPrincipal, OperatorRole, RobotPrincipal, RobotState
from tests.fleet import HUB_SPOT, MAIN_ST, SUNSET, Fleet


def test_a_supervisor_registers_a_robot_that_then_reports_for_itself(fleet: Fleet) -> None:
    boss = fleet.operator(OperatorRole.SUPERVISOR)
    hub = fleet.hub()
    made = fleet.post(
        boss.token, "/ops/v1/robots", {"serial": "SW-1", "display_name": "Bolt", "hub_id": hub}
    )
    assert made.status_code == 201, made.text
    robot = made.json()
    assert robot["token"].startswith("rbt_")
    assert robot["state"] == "offline"
    assert robot["position"] == {"lat": HUB_SPOT.lat, "lng": HUB_SPOT.lng}
    assert robot["area_id"] == "weho"

    reading = {"lat": SUNSET.lat, "lng": SUNSET.lng, "battery_pct": 77.5}
    reported = fleet.post(robot["token"], "/ops/v1/robots/SW-1/telemetry", reading)
    assert reported.status_code == 200, reported.text
    assert reported.json()["state"] == "idle"  # heard from: online
    assert reported.json()["battery_pct"] == 77.5

    seen = fleet.get(boss.token, "/ops/v1/robots/SW-1").json()
    assert seen["position"] == {"lat": SUNSET.lat, "lng": SUNSET.lng}
    assert "token" not in seen


def test_a_robot_cannot_report_for_another(fleet: Fleet) -> None:
    mine = fleet.robot("SW-1")
    fleet.robot("SW-2")
    reading = {"lat": SUNSET.lat, "lng": SUNSET.lng, "battery_pct": 50}
    refused = fleet.post(mine, "/ops/v1/robots/SW-2/telemetry", reading)
    assert refused.status_code == 403
    assert refused.json()["code"] == "forbidden"
    assert robots.get_robot(fleet.ctx, "SW-2").battery_pct == 90


def test_an_operator_token_cannot_post_telemetry(fleet: Fleet) -> None:
    fleet.robot("SW-1")
    admin = fleet.operator(OperatorRole.ADMIN)
    reading = {"lat": SUNSET.lat, "lng": SUNSET.lng, "battery_pct": 50}
    assert fleet.post(admin.token, "/ops/v1/robots/SW-1/telemetry", reading).status_code == 403


def test_a_serial_is_registered_once(fleet: Fleet) -> None:
    boss = fleet.operator(OperatorRole.SUPERVISOR)
    body = {"serial": "SW-1", "display_name": "Bolt"}
    assert fleet.post(boss.token, "/ops/v1/robots", body).status_code == 201
    again = fleet.post(boss.token, "/ops/v1/robots", body)
    assert again.status_code == 409
    assert again.json()["code"] == "robot_exists"


def test_bad_telemetry_is_refused_and_changes_nothing(fleet: Fleet) -> None:
    token = fleet.robot("SW-1")
    for bad in (
        {"lat": 999, "lng": SUNSET.lng, "battery_pct": 50},
        {"lat": SUNSET.lat, "lng": SUNSET.lng, "battery_pct": 101},
        {"lat": "34.1", "lng": SUNSET.lng, "battery_pct": 50},
        {"lat": SUNSET.lat, "lng": SUNSET.lng, "battery_pct": 50, "state": "flying"},
        {"lat": SUNSET.lat, "lng": SUNSET.lng, "battery_pct": 50, "at": "yesterday"},
        {"lat": SUNSET.lat, "lng": SUNSET.lng},
    ):
        answer = fleet.post(token, "/ops/v1/robots/SW-1/telemetry", bad)
        assert answer.status_code == 422, bad
        assert answer.headers["content-type"] == "application/problem+json"
    on_task = {"lat": SUNSET.lat, "lng": SUNSET.lng, "battery_pct": 50, "state": "on_task"}
    refused = fleet.post(token, "/ops/v1/robots/SW-1/telemetry", on_task)
    assert refused.json()["code"] == "state_not_reportable"
    assert robots.get_robot(fleet.ctx, "SW-1").battery_pct == 90


def test_an_older_reading_does_not_overwrite_a_newer_one(fleet: Fleet, clock: ManualClock) -> None:
    token = fleet.robot("SW-1")
    later = clock.now().isoformat()
    first = {"lat": MAIN_ST.lat, "lng": MAIN_ST.lng, "battery_pct": 60, "at": later}
    assert fleet.post(token, "/ops/v1/robots/SW-1/telemetry", first).status_code == 200
    earlier = (clock.now() - timedelta(seconds=30)).isoformat()
    stale = {"lat": SUNSET.lat, "lng": SUNSET.lng, "battery_pct": 99, "at": earlier}
    assert fleet.post(token, "/ops/v1/robots/SW-1/telemetry", stale).json()["battery_pct"] == 60


def test_state_changes_in_one_instant_are_all_kept_in_order(
    fleet: Fleet, clock: ManualClock
) -> None:
    boss = fleet.operator(OperatorRole.SUPERVISOR)
    token = fleet.robot("SW-1")  # offline → idle, in this same instant
    here = {"lat": SUNSET.lat, "lng": SUNSET.lng, "battery_pct": 50}
    for state in ("charging", "idle", "fault", "idle"):
        fleet.post(token, "/ops/v1/robots/SW-1/telemetry", {**here, "state": state})
    fleet.post(boss.token, "/ops/v1/robots/SW-1/maintenance", {"on": True})
    fleet.post(boss.token, "/ops/v1/robots/SW-1/maintenance", {"on": False})
    history = fleet.get(boss.token, "/ops/v1/robots/SW-1/state-history").json()["data"]
    states = [row["state"] for row in history]
    assert states == [
        "offline", "idle", "charging", "idle", "fault", "idle", "maintenance", "idle",
    ]  # fmt: skip
    dates = [datetime.fromisoformat(row["date"]) for row in history]
    assert len(set(dates)) == len(dates)
    assert dates == sorted(dates)
    assert [row["previous_state"] for row in history[1:]] == states[:-1]


def test_the_state_history_is_read_by_time_range(fleet: Fleet, clock: ManualClock) -> None:
    boss = fleet.operator(OperatorRole.SUPERVISOR)
    token = fleet.robot("SW-1")
    here = {"lat": SUNSET.lat, "lng": SUNSET.lng, "battery_pct": 50}
    start = clock.now()
    for state in ("charging", "idle", "charging"):
        clock.advance(timedelta(minutes=10))
        fleet.post(token, "/ops/v1/robots/SW-1/telemetry", {**here, "state": state})
    since = (start + timedelta(minutes=15)).isoformat()
    until = (start + timedelta(minutes=30)).isoformat()
    window = fleet.get(
        boss.token, "/ops/v1/robots/SW-1/state-history", since=since, until=until
    ).json()["data"]
    assert [r["state"] for r in window] == ["idle"]
    bad = fleet.get(boss.token, "/ops/v1/robots/SW-1/state-history", since="not a time")
    assert bad.status_code == 422
    missing = fleet.get(boss.token, "/ops/v1/robots/NOPE/state-history")
    assert missing.status_code == 404
    assert missing.json()["code"] == "robot_not_found"


def test_maintenance_takes_a_robot_out_of_service_until_switched_off(fleet: Fleet) -> None:
    boss = fleet.operator(OperatorRole.SUPERVISOR)
    token = fleet.robot("SW-1")
    on = fleet.post(boss.token, "/ops/v1/robots/SW-1/maintenance", {"on": True})
    assert on.json()["state"] == "maintenance"
    here = {"lat": SUNSET.lat, "lng": SUNSET.lng, "battery_pct": 50, "state": "idle"}
    assert fleet.post(token, "/ops/v1/robots/SW-1/telemetry", here).json()["state"] == (
        "maintenance"
    )
    fleet.delivery_task()
    assert fleet.dispatch().assigned == 0
    off = fleet.post(boss.token, "/ops/v1/robots/SW-1/maintenance", {"on": False})
    assert off.json()["state"] == "idle"
    assert fleet.dispatch().assigned == 1


def test_a_robot_on_a_task_is_not_taken_into_maintenance(fleet: Fleet) -> None:
    boss = fleet.operator(OperatorRole.SUPERVISOR)
    fleet.robot("SW-1")
    fleet.delivery_task()
    fleet.dispatch()
    refused = fleet.post(boss.token, "/ops/v1/robots/SW-1/maintenance", {"on": True})
    assert refused.status_code == 409
    assert refused.json()["code"] == "invalid_transition"
    assert fleet.robot_state("SW-1") == RobotState.ON_TASK


def test_robots_silent_too_long_go_offline_and_fail_their_task(
    fleet: Fleet, clock: ManualClock
) -> None:
    fleet.robot("SW-1")
    task = fleet.delivery_task()
    fleet.dispatch()
    clock.advance(timedelta(seconds=fleet.platform.settings.robot_offline_after_s + 1))
    assert fleet.dispatch().went_offline == 1
    assert fleet.robot_state("SW-1") == "offline"
    ended = fleet.task(task.id)
    assert (ended.status, ended.failure_reason) == ("failed", "robot_offline")


def test_a_robot_whose_clock_runs_behind_stays_online_and_moves(
    fleet: Fleet, clock: ManualClock
) -> None:
    token = fleet.robot("SW-1")
    for step in range(40):  # 200 s of readings every 5 s, stamped 150 s late
        clock.advance(timedelta(seconds=5))
        late = (clock.now() - timedelta(seconds=150)).isoformat()
        lng = SUNSET.lng + 0.0001 * step
        reading = {"lat": SUNSET.lat, "lng": lng, "battery_pct": 80, "at": late}
        assert fleet.post(token, "/ops/v1/robots/SW-1/telemetry", reading).status_code == 200
        fleet.dispatch()
    robot = robots.get_robot(fleet.ctx, "SW-1")
    assert robot.state == RobotState.IDLE
    assert robot.lng == SUNSET.lng + 0.0001 * 39


def test_a_late_fault_still_counts_but_a_late_position_does_not(
    fleet: Fleet, clock: ManualClock
) -> None:
    token = fleet.robot("SW-1")
    now = clock.now()
    fresh = {"lat": MAIN_ST.lat, "lng": MAIN_ST.lng, "battery_pct": 70, "at": now.isoformat()}
    fleet.post(token, "/ops/v1/robots/SW-1/telemetry", fresh)
    earlier = (now - timedelta(milliseconds=1)).isoformat()
    fault = {"lat": SUNSET.lat, "lng": SUNSET.lng, "battery_pct": 71, "state": "fault"}
    answer = fleet.post(token, "/ops/v1/robots/SW-1/telemetry", {**fault, "at": earlier}).json()
    assert answer["state"] == "fault"
    assert answer["position"] == {"lat": MAIN_ST.lat, "lng": MAIN_ST.lng}
    assert answer["battery_pct"] == 70


def test_a_charging_robot_is_idle_again_once_full(fleet: Fleet) -> None:
    token = fleet.robot("SW-1", state=RobotState.CHARGING, battery=40)
    here = {"lat": SUNSET.lat, "lng": SUNSET.lng}
    half = fleet.post(token, "/ops/v1/robots/SW-1/telemetry", {**here, "battery_pct": 60})
    assert half.json()["state"] == "charging"
    full = fleet.post(token, "/ops/v1/robots/SW-1/telemetry", {**here, "battery_pct": 96})
    assert full.json()["state"] == "idle"


def test_a_robots_token_is_replaced_and_the_old_one_stops_working(fleet: Fleet) -> None:
    boss = fleet.operator(OperatorRole.SUPERVISOR)
    old = fleet.robot("SW-1")
    here = {"lat": SUNSET.lat, "lng": SUNSET.lng, "battery_pct": 50}
    assert fleet.post(old, "/ops/v1/robots/SW-1/telemetry", here).status_code == 200
    new = fleet.post(boss.token, "/ops/v1/robots/SW-1/token").json()["token"]
    assert new.startswith("rbt_")
    assert fleet.post(old, "/ops/v1/robots/SW-1/telemetry", here).status_code == 401
    assert fleet.post(new, "/ops/v1/robots/SW-1/telemetry", here).status_code == 200
    assert fleet.post(boss.token, "/ops/v1/robots/NOPE/token").status_code == 404


def test_an_operator_replaces_their_own_token(fleet: Fleet) -> None:
    pilot = fleet.operator(OperatorRole.PILOT)
    other = fleet.operator(OperatorRole.PILOT)
    new = fleet.post(pilot.token, f"/ops/v1/operators/{pilot.id}/token").json()["token"]
    assert fleet.get(pilot.token, "/ops/v1/operators/me").status_code == 401
    assert fleet.get(new, "/ops/v1/operators/me").json()["id"] == pilot.id
    assert fleet.post(new, f"/ops/v1/operators/{other.id}/token").status_code == 403


def test_every_valid_token_is_known_by_digest_and_a_replaced_one_is_not(fleet: Fleet) -> None:
    """What the ops service's cache of tokens is refreshed with, in the background."""
    boss = fleet.operator(OperatorRole.SUPERVISOR)
    old = fleet.robot("SW-1")
    known = access.every_principal(fleet.ctx.read)
    assert known[digest(old)] == RobotPrincipal("SW-1")
    assert known[digest(boss.token)] == OperatorPrincipal(boss.id, OperatorRole.SUPERVISOR)
    new = fleet.post(boss.token, "/ops/v1/robots/SW-1/token").json()["token"]
    known = access.every_principal(fleet.ctx.read)
    assert digest(old) not in known
    assert known[digest(new)] == RobotPrincipal("SW-1")
