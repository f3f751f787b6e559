"""The ops REST API (`/ops/v1`) for operators and robots. Routes only check who calls,
translate HTTP to use cases and back; the role table is `domain.PERMISSIONS`."""

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import TypeAdapter

from sidewalk.kernel import audit
from sidewalk.kernel.errors import Forbidden, Unprocessable
from sidewalk.kernel.geo import LatLng
from sidewalk.kernel.http import json_response
from sidewalk.kernel.lean_routes import lean_json_route
from sidewalk.kernel.schemas import NO_NUL, Problem, UtcDatetime
from sidewalk.operations import (
    access,
    dispatcher,
    doorstep,
    hubs,
    operators,
    reads,
    robots,
    tasks,
)
from sidewalk.operations.context import OperationsContext
from sidewalk.operations.domain import (
    SERIAL_PATTERN,
    Action,
    OperatorPrincipal,
    OperatorRole,
    Principal,
    RobotPrincipal,
    RobotState,
    TaskStatus,
    TaskType,
)
from sidewalk.operations.schemas import (
    CancelTaskIn,
    DispatchReport,
    HubCreate,
    HubList,
    HubRead,
    MaintenanceIn,
    OperatorCreate,
    OperatorCreated,
    OperatorList,
    OperatorRead,
    OperatorStatusIn,
    PilotAssignmentList,
    ReassignIn,
    RobotCreate,
    RobotCreated,
    RobotList,
    RobotRead,
    StateHistoryPage,
    TaskCreate,
    TaskPage,
    TaskRead,
    TelemetryIn,
    TokenIssued,
    TripEventIn,
    UndeliverableIn,
    UndeliverableRead,
    UnlockIn,
    UnlockRead,
)
from sidewalk.operations.views import (
    hub_read,
    operator_read,
    robot_read,
    state_change,
)


@dataclass(frozen=True, slots=True)
class Caller:
    ctx: OperationsContext
    who: Principal

    def operator(self, action: Action) -> OperatorPrincipal:
        return access.require(self.who, action)


def current_caller(request: Request) -> Caller:
    """The operator or robot of the token, told to the audit log too (a request refused here
    stays anonymous there)."""
    ctx: OperationsContext = request.app.state.operations
    header = request.headers.get("authorization")
    return _told(request, ctx, access.remembered(ctx, header) or access.authenticate(ctx, header))


async def current_caller_async(request: Request) -> Caller:
    """`current_caller` for the routes that run on the event loop: a token seen lately costs
    no thread."""
    ctx: OperationsContext = request.app.state.operations
    header = request.headers.get("authorization")
    who = access.remembered(ctx, header)
    if who is None:
        who = await run_in_threadpool(access.authenticate, ctx, header)
    return _told(request, ctx, who)


def _told(request: Request, ctx: OperationsContext, who: Principal) -> Caller:
    if isinstance(who, RobotPrincipal):
        audit.identify(request.scope, "robot", who.serial)
    else:
        audit.identify(request.scope, "operator", who.id)
        ctx.rate_limit.take(who.id)  # robots report as often as they must
    return Caller(ctx, who)


CallerDep = Annotated[Caller, Depends(current_caller)]
AsyncCallerDep = Annotated[Caller, Depends(current_caller_async)]
SerialPath = Annotated[str, Path(max_length=64, pattern=SERIAL_PATTERN)]
IdPath = Annotated[str, Path(max_length=64, pattern=NO_NUL)]
IdQuery = Annotated[str | None, Query(max_length=64, pattern=NO_NUL)]


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    described = {
        401: "Missing or invalid token",
        403: "Not allowed for this role or this robot",
        404: "Not found",
        409: "Conflicts with the current state",
        413: "Request body too large",
        422: "Invalid request",
        429: "Too many requests from this operator token (see `Retry-After`)",
    }
    return {s: {"model": Problem, "description": described[s]} for s in statuses}


router = APIRouter(prefix="/ops/v1", responses=problems(401, 403, 413, 422, 429))


# --- robots -----------------------------------------------------------------------------------


def _visible(caller: Caller, serial: str) -> None:
    """A pilot may read only the robots they supervise now."""
    op = caller.operator(Action.ROBOTS_READ)
    visible = reads.visible_robots(caller.ctx, op)
    if visible is not None and serial not in visible:
        raise Forbidden("A pilot sees only the robots they supervise", code="forbidden")


@router.get("/robots", tags=["robots"], summary="List robots", response_model=RobotList)
def list_robots(
    caller: CallerDep,
    state: Annotated[RobotState | None, Query()] = None,
    area_id: IdQuery = None,
) -> RobotList:
    op = caller.operator(Action.ROBOTS_READ)
    only = reads.visible_robots(caller.ctx, op)
    found = robots.list_robots(caller.ctx, state=state, area_id=area_id, only=only)
    return RobotList(data=[robot_read(r) for r in found])


@router.post(
    "/robots",
    tags=["robots"],
    summary="Register a robot (its token is shown once)",
    status_code=201,
    response_model=RobotCreated,
    responses=problems(404, 409),
)
def register_robot(body: RobotCreate, caller: CallerDep) -> RobotCreated:
    caller.operator(Action.ROBOTS_MANAGE)
    made = robots.register_robot(
        caller.ctx,
        robots.RobotSpec(
            serial=body.serial,
            display_name=body.display_name,
            hub_id=body.hub_id,
            speed_mps=body.speed_mps,
            battery_low_pct=body.battery_low_pct,
            battery_reserve_pct=body.battery_reserve_pct,
            drain_pct_per_km=body.drain_pct_per_km,
        ),
    )
    return RobotCreated(**robot_read(made.robot).model_dump(), token=made.token)


@router.get(
    "/robots/{serial}",
    tags=["robots"],
    summary="A robot and its current state",
    response_model=RobotRead,
    responses=problems(404),
)
def get_robot(serial: SerialPath, caller: CallerDep) -> RobotRead:
    _visible(caller, serial)
    return robot_read(robots.get_robot(caller.ctx, serial))


@router.post(
    "/robots/{serial}/maintenance",
    tags=["robots"],
    summary="Take a robot out of service, or back",
    response_model=RobotRead,
    responses=problems(404, 409),
)
def set_maintenance(serial: SerialPath, body: MaintenanceIn, caller: CallerDep) -> RobotRead:
    caller.operator(Action.ROBOTS_MANAGE)
    return robot_read(robots.set_maintenance(caller.ctx, serial, body.on))


@router.post(
    "/robots/{serial}/token",
    tags=["robots"],
    summary="Replace a robot's token (the new one is shown once)",
    response_model=TokenIssued,
    responses=problems(404),
)
def replace_robot_token(serial: SerialPath, caller: CallerDep) -> TokenIssued:
    caller.operator(Action.ROBOTS_MANAGE)
    return TokenIssued(token=robots.issue_token(caller.ctx, serial))


@router.post(
    "/robots/{serial}/telemetry",
    tags=["robots"],
    summary="Report position, battery and state (robot token only)",
    response_model=RobotRead,
    responses=problems(404, 409),
)
async def report_telemetry(
    serial: SerialPath, body: TelemetryIn, caller: AsyncCallerDep
) -> Response:
    """Served by `LEAN_ROUTES`: this is its contract."""
    access.require_robot(caller.who, serial)
    reading = robots.Telemetry(body.lat, body.lng, body.battery_pct, body.state, body.at)
    return json_response(
        robot_read(await robots.report_telemetry_async(caller.ctx, serial, reading))
    )


async def _lean_telemetry(
    _request: Request, caller: Caller, path: dict[str, Any], body: Any
) -> Response:
    return await report_telemetry(path["serial"], body, caller)


# What robots call every second, served lean (`kernel/lean_routes.py`) before the documented
# routes above, with their types.
LEAN_ROUTES = [
    lean_json_route(
        router.prefix + "/robots/{serial}/telemetry",
        _lean_telemetry,
        caller=current_caller_async,
        body=TelemetryIn,
        params={"serial": TypeAdapter(SerialPath)},
    )
]


@router.post(
    "/robots/{serial}/unlock",
    tags=["robots"],
    summary="Open the compartment at the dropoff: with the customer's PIN (the robot), or "
    "without it (a pilot who checked the customer)",
    response_model=UnlockRead,
    responses=problems(403, 404, 409),
)
def unlock_compartment(serial: SerialPath, body: UnlockIn, caller: CallerDep) -> UnlockRead:
    operator_id = None
    if isinstance(caller.who, RobotPrincipal):
        access.require_robot_or(caller.who, serial, Action.DOORSTEP)
        if body.pin is None:
            raise Unprocessable("Give the PIN the customer typed", code="pin_required")
    else:
        _visible(caller, serial)
        operator_id = caller.operator(Action.DOORSTEP).id
        if body.pin is None and body.reason is None:
            raise Unprocessable(
                "Say why the compartment is opened without a PIN", code="reason_required"
            )
    robots.get_robot(caller.ctx, serial)
    opened = doorstep.unlock(
        caller.ctx,
        serial,
        pin=body.pin,
        operator_id=operator_id if body.pin is None else None,
        reason=body.reason,
    )
    return UnlockRead(
        task_id=opened.task_id,
        delivery_id=opened.delivery_id,
        opened_at=opened.opened_at,
        by=opened.by,
    )


@router.post(
    "/robots/{serial}/undeliverable",
    tags=["robots"],
    summary="Nobody takes the goods at the door: carry out the delivery's undeliverable action "
    "(the robot, or an operator who may open it)",
    response_model=UndeliverableRead,
    responses=problems(403, 404, 409),
)
def undeliverable(
    serial: SerialPath, caller: CallerDep, body: UndeliverableIn | None = None
) -> UndeliverableRead:
    operator_id = None
    if isinstance(caller.who, RobotPrincipal):
        access.require_robot_or(caller.who, serial, Action.DOORSTEP)
    else:
        _visible(caller, serial)
        operator_id = caller.operator(Action.DOORSTEP).id
    robots.get_robot(caller.ctx, serial)
    reason = body.reason if body else "customer_unavailable"
    done = doorstep.undeliverable(caller.ctx, serial, reason=reason, operator_id=operator_id)
    return UndeliverableRead(
        task_id=done.task_id, delivery_id=done.delivery_id, action_taken=done.action_taken
    )


@router.get(
    "/robots/{serial}/state-history",
    tags=["robots"],
    summary="The robot's state changes in a time range, oldest first",
    response_model=StateHistoryPage,
    responses=problems(404),
)
def state_history(
    serial: SerialPath,
    caller: CallerDep,
    since: Annotated[UtcDatetime | None, Query()] = None,
    until: Annotated[UtcDatetime | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> StateHistoryPage:
    _visible(caller, serial)
    rows = robots.state_history(caller.ctx, serial, since=since, until=until, limit=limit)
    return StateHistoryPage(data=[state_change(r) for r in rows])


@router.get(
    "/robots/{serial}/task",
    tags=["robots"],
    summary="The robot's active task with its ordered trips; 204 when it has none",
    response_model=TaskRead,
    responses={204: {"description": "No active task"}, **problems(404)},
)
def robot_task(serial: SerialPath, caller: CallerDep) -> Response | TaskRead:
    if not isinstance(caller.who, RobotPrincipal):
        _visible(caller, serial)
    else:
        access.require_robot_or(caller.who, serial, Action.ROBOTS_READ)
    robots.get_robot(caller.ctx, serial)
    task = reads.robot_task(caller.ctx, serial)
    return task if task is not None else Response(status_code=204)


# --- tasks and trips --------------------------------------------------------------------------


@router.get("/tasks", tags=["tasks"], summary="List tasks, newest first", response_model=TaskPage)
def list_tasks(
    caller: CallerDep,
    status: Annotated[TaskStatus | None, Query()] = None,
    type: Annotated[TaskType | None, Query()] = None,
    robot_serial: IdQuery = None,
    delivery_id: IdQuery = None,
    created_after: Annotated[UtcDatetime | None, Query()] = None,
    created_before: Annotated[UtcDatetime | None, Query()] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> TaskPage:
    op = caller.operator(Action.TASKS_READ)
    filt = reads.TaskFilter(status, type, robot_serial, delivery_id, created_after, created_before)
    return reads.list_tasks(caller.ctx, op, filt, cursor=cursor, limit=limit)


@router.post(
    "/tasks",
    tags=["tasks"],
    summary="Send a robot to a hub (charge or reposition)",
    status_code=201,
    response_model=TaskRead,
    responses=problems(404, 409),
)
def create_task(body: TaskCreate, caller: CallerDep) -> TaskRead:
    caller.operator(Action.TASKS_MANAGE)
    task = tasks.create_robot_task(
        caller.ctx, TaskType(body.type), body.robot_serial, hub_id=body.hub_id
    )
    return reads.task_view(caller.ctx, None, task.id)


@router.get(
    "/tasks/{task_id}",
    tags=["tasks"],
    summary="A task with its trips and pilot",
    response_model=TaskRead,
    responses=problems(404),
)
def get_task(task_id: IdPath, caller: CallerDep) -> TaskRead:
    op = caller.operator(Action.TASKS_READ)
    return reads.task_view(caller.ctx, op, task_id)


@router.post(
    "/tasks/{task_id}/cancel",
    tags=["tasks"],
    summary="Cancel a task and free its robot",
    response_model=TaskRead,
    responses=problems(404, 409),
)
def cancel_task(task_id: IdPath, caller: CallerDep, body: CancelTaskIn | None = None) -> TaskRead:
    caller.operator(Action.TASKS_MANAGE)
    reads.task_view(caller.ctx, None, task_id)
    tasks.cancel_task(caller.ctx, task_id, reason=body.reason if body else "cancelled")
    return reads.task_view(caller.ctx, None, task_id)


@router.post(
    "/tasks/{task_id}/reassign",
    tags=["tasks"],
    summary="Take a task that has not started from its robot (to another, or the dispatcher)",
    response_model=TaskRead,
    responses=problems(404, 409),
)
def reassign_task(task_id: IdPath, body: ReassignIn, caller: CallerDep) -> TaskRead:
    caller.operator(Action.TASKS_MANAGE)
    reads.task_view(caller.ctx, None, task_id)
    tasks.reassign_task(caller.ctx, task_id, body.robot_serial)
    return reads.task_view(caller.ctx, None, task_id)


@router.post(
    "/trips/{trip_id}/events",
    tags=["tasks"],
    summary="Report a trip started, arrived, completed or failed (its robot, or a supervisor)",
    response_model=TaskRead,
    responses=problems(404, 409),
)
def trip_event(trip_id: IdPath, body: TripEventIn, caller: CallerDep) -> TaskRead:
    robot = caller.who.serial if isinstance(caller.who, RobotPrincipal) else None
    if robot is None:
        caller.operator(Action.TRIPS_REPORT)
    report = tasks.TripReport(trip_id, body.event, body.reason)
    task_id = tasks.report_trip(caller.ctx, report, by_robot=robot)
    return reads.task_view(caller.ctx, None, task_id)


# --- operators and pilots ---------------------------------------------------------------------


@router.get("/operators", tags=["operators"], summary="List operators", response_model=OperatorList)
def list_operators(
    caller: CallerDep, role: Annotated[OperatorRole | None, Query()] = None
) -> OperatorList:
    caller.operator(Action.OPERATORS_READ)
    return OperatorList(
        data=[operator_read(o) for o in operators.list_operators(caller.ctx, role=role)]
    )


@router.post(
    "/operators",
    tags=["operators"],
    summary="Create an operator (their token is shown once)",
    status_code=201,
    response_model=OperatorCreated,
    responses=problems(409),
)
def create_operator(body: OperatorCreate, caller: CallerDep) -> OperatorCreated:
    caller.operator(Action.OPERATORS_MANAGE)
    made = operators.create_operator(
        caller.ctx, body.email, body.role, display_name=body.display_name
    )
    return OperatorCreated(**operator_read(made.operator).model_dump(), token=made.token)


@router.get("/operators/me", tags=["operators"], summary="Who I am", response_model=OperatorRead)
def me(caller: CallerDep) -> OperatorRead:
    op = _any_operator(caller)
    return operator_read(operators.get_operator(caller.ctx, op, op.id))


@router.get(
    "/operators/{operator_id}",
    tags=["operators"],
    summary="An operator",
    response_model=OperatorRead,
    responses=problems(404),
)
def get_operator(operator_id: IdPath, caller: CallerDep) -> OperatorRead:
    op = _any_operator(caller)
    return operator_read(operators.get_operator(caller.ctx, op, operator_id))


@router.patch(
    "/operators/{operator_id}",
    tags=["operators"],
    summary="Set an operator's status (their own, or anyone's for an admin)",
    response_model=OperatorRead,
    responses=problems(404),
)
def set_operator_status(
    operator_id: IdPath, body: OperatorStatusIn, caller: CallerDep
) -> OperatorRead:
    op = _any_operator(caller)
    return operator_read(operators.set_status(caller.ctx, op, operator_id, body.status))


@router.post(
    "/operators/{operator_id}/token",
    tags=["operators"],
    summary="Replace an operator's token (their own, or anyone's for an admin)",
    response_model=TokenIssued,
    responses=problems(404),
)
def replace_operator_token(operator_id: IdPath, caller: CallerDep) -> TokenIssued:
    op = _any_operator(caller)
    if op.id != operator_id:
        caller.operator(Action.OPERATORS_MANAGE)
    return TokenIssued(token=operators.issue_token(caller.ctx, operator_id))


def _any_operator(caller: Caller) -> OperatorPrincipal:
    if not isinstance(caller.who, OperatorPrincipal):
        raise Forbidden("This route is for operators", code="forbidden")
    return caller.who


@router.get(
    "/pilot-assignments",
    tags=["operators"],
    summary="Pilot assignments, newest first (a pilot sees their own)",
    response_model=PilotAssignmentList,
)
def list_assignments(
    caller: CallerDep,
    active: Annotated[bool, Query(description="Only those not released")] = False,
    pilot_id: IdQuery = None,
) -> PilotAssignmentList:
    op = caller.operator(Action.ASSIGNMENTS_READ)
    return PilotAssignmentList(
        data=reads.list_assignments(caller.ctx, op, active=active, pilot_id=pilot_id)
    )


@router.get(
    "/pilot-assignments/active",
    tags=["operators"],
    summary="Pilot assignments not yet released",
    response_model=PilotAssignmentList,
)
def active_assignments(caller: CallerDep) -> PilotAssignmentList:
    op = caller.operator(Action.ASSIGNMENTS_READ)
    return PilotAssignmentList(
        data=reads.list_assignments(caller.ctx, op, active=True, pilot_id=None)
    )


# --- hubs and dispatch ------------------------------------------------------------------------


@router.get("/hubs", tags=["hubs"], summary="List hubs", response_model=HubList)
def list_hubs(caller: CallerDep) -> HubList:
    caller.operator(Action.HUBS_READ)
    return HubList(data=[hub_read(h) for h in hubs.list_hubs(caller.ctx)])


@router.post(
    "/hubs",
    tags=["hubs"],
    summary="Add a hub",
    status_code=201,
    response_model=HubRead,
    responses=problems(409),
)
def add_hub(body: HubCreate, caller: CallerDep) -> HubRead:
    caller.operator(Action.HUBS_MANAGE)
    return hub_read(hubs.add_hub(caller.ctx, body.name, LatLng(body.lat, body.lng)))


@router.post(
    "/dispatch/run",
    tags=["dispatch"],
    summary="Run one dispatch round now",
    response_model=DispatchReport,
)
def run_dispatch(caller: CallerDep) -> DispatchReport:
    caller.operator(Action.DISPATCH_RUN)
    r = dispatcher.run_round(caller.ctx)
    return DispatchReport(
        assigned=r.assigned,
        no_robot_available=r.no_robot_available,
        sent_to_charge=r.sent_to_charge,
        went_offline=r.went_offline,
        got_pilot=r.got_pilot,
        no_pilot_available=r.no_pilot_available,
    )
