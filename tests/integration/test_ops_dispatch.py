"""The dispatch round on a real database: the batch minimises total pickup time, robots
without the battery for the task and the way back are passed over, low robots go to charge,
and robots outside the area, busy or in maintenance are not used."""

from sidewalk.kernel.geo import LatLng
from sidewalk.operations import robots
from sidewalk.operations.domain import OperatorRole, TaskType
from tests.fleet import HUB_SPOT, Fleet

# Four places on one street, west to east, about 450 m apart.
W2, W1, E1, E2 = (LatLng(34.0900, -118.3700 + 0.005 * i) for i in (-1, 0, 1, 2))


def test_the_batch_minimises_the_total_pickup_time_not_first_come_nearest(
    fleet: Fleet,
) -> None:
    # First come, nearest first gives the task at W1 the robot at E1 (its nearest), leaving
    # the robot at W2 to cross to E2: 450 + 1,800 m. The batch pairs W2→W1, E1→E2: 900 m.
    fleet.robot("WEST", where=W2)
    fleet.robot("EAST", where=E1)
    first = fleet.delivery_task(1, pickup=LatLng(W1.lat, W1.lng + 0.0024), dropoff=W2)
    second = fleet.delivery_task(2, pickup=E2, dropoff=E1)
    assert fleet.dispatch().assigned == 2
    assert fleet.task(first.id).robot_serial == "WEST"
    assert fleet.task(second.id).robot_serial == "EAST"


def test_a_robot_without_battery_for_the_task_and_the_way_back_is_passed_over(
    fleet: Fleet,
) -> None:
    fleet.hub(where=HUB_SPOT)
    # Near the pickup but nearly empty (and under no charge threshold, to keep it idle).
    fleet.robot("NEAR", where=W1, battery=11, battery_low_pct=0)
    fleet.robot("FAR", where=E2, battery=95)
    task = fleet.delivery_task(1, pickup=W1, dropoff=E1)
    assert fleet.dispatch().assigned == 1
    assert fleet.task(task.id).robot_serial == "FAR"


def test_no_robot_at_all_leaves_the_task_pending(fleet: Fleet) -> None:
    fleet.robot("EMPTY", where=W1, battery=5, battery_low_pct=0)
    task = fleet.delivery_task(1, pickup=W1, dropoff=E1)
    assert fleet.dispatch().assigned == 0
    assert fleet.task(task.id).status == "pending"


def test_idle_robots_low_on_battery_are_sent_to_the_nearest_hub_to_charge(fleet: Fleet) -> None:
    near = fleet.hub("Near", where=W1)
    fleet.hub("Far", where=E2)
    token = fleet.robot("LOW", where=W2, battery=20)  # under the default 25 %
    fleet.robot("OK", where=W2, battery=80)
    report = fleet.dispatch()
    assert report.sent_to_charge == 1
    task = fleet.get(token, "/ops/v1/robots/LOW/task").json()
    assert task["type"] == TaskType.CHARGE
    assert task["hub_id"] == near
    assert [t["type"] for t in task["trips"]] == ["to_hub"]
    assert task["trips"][0]["destination"] == {"lat": W1.lat, "lng": W1.lng}
    for event in ("started", "arrived", "completed"):
        fleet.report(task["trips"][0]["id"], event)
    assert fleet.robot_state("LOW") == "charging"
    assert fleet.dispatch().sent_to_charge == 0  # charging: not sent again
    full = {"lat": W1.lat, "lng": W1.lng, "battery_pct": 100, "state": "idle"}
    assert fleet.post(token, "/ops/v1/robots/LOW/telemetry", full).json()["state"] == "idle"


def test_a_supervisor_sends_a_robot_to_a_hub(fleet: Fleet) -> None:
    boss = fleet.operator(OperatorRole.SUPERVISOR)
    hub = fleet.hub()
    fleet.robot("SW-1")
    made = fleet.post(
        boss.token,
        "/ops/v1/tasks",
        {"type": "reposition", "robot_serial": "SW-1", "hub_id": hub},
    )
    assert made.status_code == 201, made.text
    assert made.json()["status"] == "assigned"
    assert made.json()["robot_serial"] == "SW-1"
    again = fleet.post(
        boss.token, "/ops/v1/tasks", {"type": "charge", "robot_serial": "SW-1", "hub_id": hub}
    )
    assert again.status_code == 409
    assert again.json()["code"] == "robot_unavailable"


def test_robots_outside_the_tasks_area_are_not_used(fleet: Fleet) -> None:
    downtown = LatLng(34.0522, -118.2437)
    fleet.robot("DOWNTOWN", where=downtown)
    task = fleet.delivery_task(1, pickup=W1, dropoff=E1)
    fleet.dispatch()
    assert fleet.task(task.id).status == "pending"
    assert robots.get_robot(fleet.ctx, "DOWNTOWN").area_id is None
    fleet.robot("LOCAL", where=E2)
    fleet.dispatch()
    assert fleet.task(task.id).robot_serial == "LOCAL"
