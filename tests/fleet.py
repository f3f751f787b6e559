"""Builders for the operations tests: operators of each role with their tokens, hubs, robots
that have reported in, delivery tasks, and the ops API seen through one token."""

from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import select

from sidewalk.bootstrap import Platform
from sidewalk.kernel.geo import LatLng
from sidewalk.operations import dispatcher, doorstep, hubs, operators, robots, tasks
from sidewalk.operations.dispatcher import RoundReport
from sidewalk.operations.domain import (
    ACTIVE_TASK,
    OperatorPrincipal,
    OperatorRole,
    OperatorStatus,
    RobotState,
    TripEvent,
)
from sidewalk.operations.models import Task
from sidewalk.operations.tasks import TripReport

# Inside the default service area (West Hollywood).
SUNSET = LatLng(34.0901, -118.3617)
MAIN_ST = LatLng(34.0857, -118.3760)
MELROSE = LatLng(34.0837, -118.3617)
HUB_SPOT = LatLng(34.0880, -118.3700)


@dataclass
class Operator:
    id: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Fleet:
    """The operations service of one test, through its service layer and its HTTP API."""

    platform: Platform
    http: Any
    _n: int = field(default=0)

    @property
    def ctx(self) -> Any:
        return self.platform.operations

    def operator(
        self, role: OperatorRole, status: OperatorStatus = OperatorStatus.AVAILABLE
    ) -> Operator:
        self._n += 1
        made = operators.create_operator(self.ctx, f"{role.value}{self._n}@example.com", role)
        if status is not OperatorStatus.OFFLINE:
            me = OperatorPrincipal(made.operator.id, role)
            operators.set_status(self.ctx, me, made.operator.id, status)
        return Operator(made.operator.id, made.token)

    def hub(self, name: str = "Central", where: LatLng = HUB_SPOT) -> str:
        return hubs.add_hub(self.ctx, name, where).id

    def robot(
        self,
        serial: str,
        where: LatLng = SUNSET,
        battery: float = 90,
        state: RobotState | None = None,
        **config: float,
    ) -> str:
        """A registered robot that has reported in (idle unless told otherwise); its token."""
        made = robots.register_robot(self.ctx, robots.RobotSpec(serial, serial, **config))
        self.robot_report(serial, where, battery, state)
        return made.token

    def robot_report(
        self, serial: str, where: LatLng, battery: float = 90, state: RobotState | None = None
    ) -> None:
        robots.report_telemetry(
            self.ctx, serial, robots.Telemetry(where.lat, where.lng, battery, state)
        )

    def delivery_task(self, n: int = 1, pickup: LatLng = SUNSET, dropoff: LatLng = MAIN_ST) -> Task:
        task_id = tasks.create_delivery_task(
            self.ctx,
            delivery_id=f"dlv_test{n}",
            attempt_id=f"att_test{n}",
            pickup=pickup,
            dropoff=dropoff,
        )
        return self.task(task_id)

    def dispatch(self) -> RoundReport:
        return dispatcher.run_round(self.ctx)

    def report(self, trip_id: str, event: str, reason: str | None = None) -> Task:
        """The task as the report left it."""
        task_id = tasks.report_trip(
            self.ctx, TripReport(trip_id, TripEvent(event), reason), by_robot=None
        )
        return self.task(task_id)

    def task(self, task_id: str) -> Task:
        return tasks.get_task(self.ctx, task_id)

    def open_door(self, serial: str) -> None:
        """The customer opens the compartment of `serial` at the door with the delivery's PIN
        (a task made without one is opened by a pilot), as a dropoff needs before it
        completes."""
        with self.platform.operations_engine.connect() as connection:
            pin = connection.execute(
                select(Task.unlock_pin).where(
                    Task.robot_serial == serial, Task.status.in_(ACTIVE_TASK)
                )
            ).scalar_one()
        if pin:
            doorstep.unlock(self.ctx, serial, pin=pin)
        else:
            doorstep.unlock(self.ctx, serial, pin=None, operator_id="op_test", reason="checked ID")

    def robot_state(self, serial: str) -> str:
        return str(robots.get_robot(self.ctx, serial).state)

    # HTTP, as one caller
    def get(self, token: str, path: str, **params: Any) -> httpx.Response:
        response: httpx.Response = self.http.get(
            path, params=params, headers={"Authorization": f"Bearer {token}"}
        )
        return response

    def post(self, token: str, path: str, json: Any = None) -> httpx.Response:
        response: httpx.Response = self.http.post(
            path, json=json, headers={"Authorization": f"Bearer {token}"}
        )
        return response

    def patch(self, token: str, path: str, json: Any = None) -> httpx.Response:
        response: httpx.Response = self.http.patch(
            path, json=json, headers={"Authorization": f"Bearer {token}"}
        )
        return response
