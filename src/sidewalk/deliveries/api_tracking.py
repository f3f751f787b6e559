"""The customer's tracking link: the page at `/track/{token}` and what it reads, once
(`/track/{token}/status`) or as it changes (`/track/{token}/live`, server-sent events). No
API key: the unguessable token is the credential, and it shows one delivery only. These
routes sit beside the page rather than in the merchant API (`/v1`), whose every route takes
a key; nor are they in the API request log, which would otherwise hold the token."""

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, StreamingResponse

from sidewalk.deliveries.api import problems
from sidewalk.deliveries.context import DeliveriesContext
from sidewalk.deliveries.tracking import TOKEN_PATTERN, TrackingRead, tracking_view
from sidewalk.kernel.errors import SidewalkError
from sidewalk.pages import page

router = APIRouter()

TokenPath = Annotated[str, Path(pattern=TOKEN_PATTERN, description="From the tracking URL.")]


def _ctx(request: Request) -> DeliveriesContext:
    ctx: DeliveriesContext = request.app.state.deliveries
    return ctx


@router.get("/track/{token}", include_in_schema=False)
def tracking_page(token: TokenPath, request: Request) -> HTMLResponse:
    """The page, or a short page saying why there is none (with the same status as the API)."""
    try:
        tracking_view(_ctx(request), token)
    except SidewalkError as e:
        return HTMLResponse(page("gone.html", message=e.detail), status_code=e.status)
    return HTMLResponse(
        page("track.html", tile_url=_ctx(request).settings.map_tile_url),
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


@router.get(
    "/track/{token}/status",
    tags=["tracking"],
    summary="A delivery as its customer follows it",
    response_model=TrackingRead,
    responses=problems(404, 410, 422),
)
def get_tracking(token: TokenPath, request: Request) -> TrackingRead:
    return tracking_view(_ctx(request), token)


@router.get(
    "/track/{token}/live",
    tags=["tracking"],
    summary="A delivery as its customer follows it, as it changes (server-sent events)",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "`tracking` events"},
        **problems(404, 410, 422),
    },
)
def live_tracking(token: TokenPath, request: Request) -> StreamingResponse:
    """An `event: tracking` now and whenever the delivery changes (checked every
    `tracking_refresh_s`); the stream ends after the delivery's end, or with
    `event: expired` when the link stops working."""
    first = tracking_view(_ctx(request), token)
    return StreamingResponse(
        _tracking_events(_ctx(request), token, first),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _tracking_events(
    ctx: DeliveriesContext, token: str, first: TrackingRead
) -> AsyncIterator[str]:
    yield f"retry: {int(ctx.settings.tracking_refresh_s * 2000)}\n\n"
    sent = first.model_dump_json()
    yield f"event: tracking\ndata: {sent}\n\n"
    ended = first.ended
    while not ended:
        await asyncio.sleep(ctx.settings.tracking_refresh_s)
        try:
            now = await run_in_threadpool(tracking_view, ctx, token)
        except SidewalkError:
            yield "event: expired\ndata: {}\n\n"
            return
        current = now.model_dump_json()
        if current != sent:
            sent = current
            yield f"event: tracking\ndata: {current}\n\n"
        ended = now.ended
