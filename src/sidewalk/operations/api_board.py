"""The ops dashboard: its page at `/`, and what it reads through the ops API: the fleet board
once or as a live stream (server-sent events), the service areas it draws, and the
acknowledgement of an alert. The page holds nothing secret; it asks for an operator token."""

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse

from sidewalk.kernel.errors import SidewalkError
from sidewalk.kernel.http import json_response
from sidewalk.operations import access, board
from sidewalk.operations.api import CallerDep, problems
from sidewalk.operations.board_schemas import AlertRead, Board
from sidewalk.operations.context import OperationsContext
from sidewalk.operations.domain import Action, OperatorPrincipal
from sidewalk.pages import page

router = APIRouter(prefix="/ops/v1", responses=problems(401, 403, 413, 422, 429))
page_router = APIRouter()

AlertPath = Annotated[str, Path(max_length=160, pattern=r"^[a-z_]+:[A-Za-z0-9._-]+:\d+$")]


@page_router.get("/", include_in_schema=False)
def dashboard(request: Request) -> HTMLResponse:
    ctx: OperationsContext = request.app.state.operations
    return HTMLResponse(
        page("dashboard.html", tile_url=ctx.settings.map_tile_url),
        headers={"Cache-Control": "no-store"},
    )


@router.get("/board", tags=["dashboard"], summary="The fleet board, now", response_model=Board)
def get_board(caller: CallerDep) -> Response:
    """Serialised here, on the request's thread: the framework would validate and serialise
    a board of thousands of robots again on the event loop, holding every other request."""
    return json_response(board.fleet_board(caller.ctx, caller.operator(Action.ROBOTS_READ)))


@router.get(
    "/board/live",
    tags=["dashboard"],
    summary="The fleet board as it changes (server-sent events)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "`board` events"}},
)
async def live_board(request: Request, caller: CallerDep) -> StreamingResponse:
    """An `event: board` with the whole board as its data every `dashboard_refresh_s`
    seconds. The token is checked again before each: once it stops working the stream sends
    `event: signed_out` and ends."""
    caller.operator(Action.ROBOTS_READ)
    header = request.headers.get("authorization")
    return StreamingResponse(
        _board_events(caller.ctx, header),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _board_events(ctx: OperationsContext, header: str | None) -> AsyncIterator[str]:
    yield f"retry: {int(ctx.settings.dashboard_refresh_s * 2000)}\n\n"
    while True:
        try:
            who = await run_in_threadpool(access.authenticate, ctx, header)
            operator = access.require(who, Action.ROBOTS_READ)
        except SidewalkError:
            yield "event: signed_out\ndata: {}\n\n"
            return
        yield f"event: board\ndata: {await run_in_threadpool(_board_json, ctx, operator)}\n\n"
        await asyncio.sleep(ctx.settings.dashboard_refresh_s)


def _board_json(ctx: OperationsContext, operator: OperatorPrincipal) -> str:
    return board.fleet_board(ctx, operator).model_dump_json()


@router.get(
    "/areas",
    tags=["dashboard"],
    summary="The service areas, as GeoJSON",
    responses={200: {"content": {"application/geo+json": {}}}},
)
def service_areas(caller: CallerDep) -> Response:
    caller.operator(Action.ROBOTS_READ)
    return JSONResponse(caller.ctx.areas.to_geojson(), media_type="application/geo+json")


@router.post(
    "/alerts/{alert_id}/acknowledge",
    tags=["dashboard"],
    summary="Acknowledge an alert that stands now",
    response_model=AlertRead,
    responses=problems(404),
)
def acknowledge_alert(alert_id: AlertPath, caller: CallerDep) -> AlertRead:
    """Any operator who may see the alert (a pilot, those about their robots). The first
    acknowledgement is kept; acknowledging again answers it unchanged."""
    return board.acknowledge(caller.ctx, caller.operator(Action.ALERTS_ACKNOWLEDGE), alert_id)
