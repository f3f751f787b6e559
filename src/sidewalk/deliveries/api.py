"""The merchant REST API (`/v1`). Routes only translate HTTP to use cases and back."""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from sidewalk.deliveries import changes, endings, merchants, ordering, quoting, reads
from sidewalk.deliveries.context import DeliveriesContext
from sidewalk.deliveries.domain import CancelStatus, DeliveryStatus, MerchantPrincipal
from sidewalk.deliveries.repository import DeliveryFilter
from sidewalk.deliveries.schemas import (
    CancelRequest,
    DeliveryCreate,
    DeliveryEvents,
    DeliveryPage,
    DeliveryRead,
    DeliveryUpdate,
    QuoteCreate,
    QuoteRead,
    ServiceabilityCheck,
    ServiceabilityRead,
    ServiceAreaCollection,
)
from sidewalk.kernel import audit
from sidewalk.kernel.errors import FieldError, ValidationFailed
from sidewalk.kernel.http import json_response
from sidewalk.kernel.lean_routes import lean_json_route
from sidewalk.kernel.schemas import Problem


@dataclass(frozen=True, slots=True)
class Caller:
    """Who calls (the merchant of the API key) and the service they call."""

    ctx: DeliveriesContext
    merchant: MerchantPrincipal


async def current_caller(request: Request) -> Caller:
    """A key seen lately is known without the database; otherwise it is looked up off the
    event loop. The header is read here, in one dependency, as each dependency costs time
    on every request (the bearer scheme is documented by `kernel.http.document_api`). The
    audit log learns the merchant here (a request refused for its key stays anonymous), and
    the merchant's rate limit is applied."""
    ctx: DeliveriesContext = request.app.state.deliveries
    header = request.headers.get("authorization")
    known = merchants.remembered(ctx, header)
    if known is None:
        known = await run_in_threadpool(merchants.authenticate, ctx, header)
    audit.identify(request.scope, "merchant", known.id)
    ctx.rate_limit.take(known.id)
    return Caller(ctx, known)


CallerDep = Annotated[Caller, Depends(current_caller)]


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    described = {
        400: "Malformed JSON",
        401: "Missing or invalid API key",
        404: "Not found, or not yours",
        409: "Conflicts with the current state",
        410: "Gone",
        429: "Too many requests from this API key (see `Retry-After`)",
        413: "Request body too large",
        422: "Invalid request",
    }
    # Filed under application/problem+json by `kernel.http.document_api`.
    return {s: {"model": Problem, "description": described[s]} for s in statuses}


router = APIRouter(prefix="/v1", responses=problems(401, 413, 422, 429))


@router.get(
    "/service-areas",
    tags=["service areas"],
    summary="The areas robots serve, as GeoJSON",
    response_model=ServiceAreaCollection,
)
def service_areas(caller: CallerDep) -> Response:
    return JSONResponse(caller.ctx.areas.to_geojson())


@router.post(
    "/quotes",
    status_code=201,
    response_model=QuoteRead,
    tags=["quotes"],
    summary="Price a delivery and promise its times",
    responses=problems(400, 422),
)
async def create_quote(caller: CallerDep, body: QuoteCreate) -> Response:
    """Priced on the event loop; stored by the group-commit writer with concurrent quotes."""
    quote = quoting.price_quote(caller.ctx, caller.merchant, body)
    await caller.ctx.quote_writer.submit(quote)
    return json_response(quote, 201)


@router.post(
    "/serviceability",
    response_model=ServiceabilityRead,
    tags=["quotes"],
    summary="Whether a trip can be served, by which provider, and why not",
    responses=problems(400, 422),
)
def check_serviceability(caller: CallerDep, body: ServiceabilityCheck) -> Response:
    """On the merchant's own terms, as a quote would decide; nothing is priced or stored."""
    return json_response(quoting.check_serviceability(caller.ctx, caller.merchant, body))


@router.get(
    "/quotes/{quote_id}", response_model=QuoteRead, tags=["quotes"], responses=problems(404)
)
def get_quote(caller: CallerDep, quote_id: str) -> Response:
    return json_response(quoting.get_quote(caller.ctx, caller.merchant, quote_id))


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Any string of 1-255 printable characters; the same key with the same body "
        "gets the same answer for at least 24 hours.",
    ),
]


def _check_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not 1 <= len(key) <= 255 or not key.isprintable() or not key.isascii():
        raise ValidationFailed(
            "Idempotency-Key must be 1 to 255 printable ASCII characters",
            errors=[FieldError("Idempotency-Key", "1 to 255 printable ASCII characters")],
        )
    return key


@router.post(
    "/deliveries",
    status_code=201,
    response_model=DeliveryRead,
    tags=["deliveries"],
    summary="Order the delivery a quote priced",
    responses=problems(400, 404, 409, 410, 422),
)
async def create_delivery(
    caller: CallerDep, body: DeliveryCreate, idempotency_key: IdempotencyKey = None
) -> Response:
    """Served by `LEAN_ROUTES`: this is its contract. Written by the group-commit writer with
    concurrent orders."""
    request = ordering.OrderRequest.of(caller.merchant, body, _check_key(idempotency_key))
    ordered = await ordering.order_delivery(caller.ctx, request)
    headers = {"Idempotent-Replayed": "true"} if ordered.replayed else {}
    return Response(ordered.text, 201, headers, media_type="application/json")


async def _lean_quote(_request: Request, caller: Caller, _path: Any, body: Any) -> Response:
    return await create_quote(caller, body)


async def _lean_order(request: Request, caller: Caller, _path: Any, body: Any) -> Response:
    return await create_delivery(caller, body, request.headers.get("idempotency-key"))


# What merchants call most (a quote, then an order), served lean (`kernel/lean_routes.py`)
# before the documented routes above, with their types.
LEAN_ROUTES = [
    lean_json_route(
        router.prefix + "/quotes", _lean_quote, caller=current_caller, body=QuoteCreate, params={}
    ),
    lean_json_route(
        router.prefix + "/deliveries",
        _lean_order,
        caller=current_caller,
        body=DeliveryCreate,
        params={},
    ),
]


def _utc(name: str, at: datetime | None) -> datetime | None:
    """A query time in UTC; it must name its time zone and lie within the calendar."""
    if at is None:
        return None
    try:
        if at.tzinfo is None:
            raise ValueError("a time zone is required, such as 2026-01-05T12:00:00Z")
        return at.astimezone(UTC)
    except (ValueError, OverflowError) as e:
        message = str(e) if isinstance(e, ValueError) else "out of the calendar's range"
        raise ValidationFailed(f"{name}: {message}", errors=[FieldError(name, message)]) from e


@router.get(
    "/deliveries", response_model=DeliveryPage, tags=["deliveries"], responses=problems(422)
)
def list_deliveries(
    caller: CallerDep,
    status: Annotated[list[DeliveryStatus] | None, Query()] = None,
    external_reference_id: Annotated[str | None, Query(max_length=200)] = None,
    created_from: Annotated[
        datetime | None, Query(description="Inclusive, with a time zone")
    ] = None,
    created_to: Annotated[datetime | None, Query(description="Exclusive, with a time zone")] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
) -> Response:
    created_from, created_to = _utc("created_from", created_from), _utc("created_to", created_to)
    filt = DeliveryFilter(
        status=[s.value for s in status] if status else None,
        external_reference_id=external_reference_id,
        created_from=created_from,
        created_to=created_to,
    )
    return json_response(
        reads.list_deliveries(caller.ctx, caller.merchant, filt, cursor=cursor, limit=limit)
    )


@router.get(
    "/deliveries/{delivery_id}",
    response_model=DeliveryRead,
    tags=["deliveries"],
    responses=problems(404),
)
def get_delivery(caller: CallerDep, delivery_id: str) -> Response:
    return json_response(reads.get_delivery(caller.ctx, caller.merchant, delivery_id))


@router.patch(
    "/deliveries/{delivery_id}",
    response_model=DeliveryRead,
    tags=["deliveries"],
    summary="Change the customer, the dropoff instructions or the order's value",
    responses=problems(400, 404, 409, 422),
)
def update_delivery(caller: CallerDep, delivery_id: str, body: DeliveryUpdate) -> Response:
    """The order's value until pickup; the customer and the instructions until the door.
    Too late answers `409 delivery_update_too_late`."""
    return json_response(changes.update_delivery(caller.ctx, caller.merchant, delivery_id, body))


@router.post(
    "/deliveries/{delivery_id}/cancel",
    response_model=DeliveryRead,
    tags=["deliveries"],
    summary="Cancel before pickup, or send the goods back after it",
    responses={
        202: {
            "model": DeliveryRead,
            "description": "A robot carries the delivery: its operator is asked to stop it "
            "(`cancel_status` `requested`); the outcome comes as `delivery.cancelled`, "
            "`delivery.returning` or, when it was too late, `delivery.delivered`",
        },
        **problems(400, 404, 409, 422),
    },
)
def cancel_delivery(
    caller: CallerDep,
    delivery_id: str,
    body: Annotated[CancelRequest | None, Body()] = None,
) -> Response:
    """Cancelled or turned back at once (200), or, for a delivery a robot carries, asked of
    the robot's operator (202), which alone knows whether the goods are still at the pickup,
    on board or handed over."""
    answer = endings.cancel_delivery(
        caller.ctx, caller.merchant, delivery_id, body or CancelRequest()
    )
    asked = answer.cancel_status is CancelStatus.REQUESTED
    return json_response(answer, status_code=202 if asked else 200)


@router.get(
    "/deliveries/{delivery_id}/events",
    response_model=DeliveryEvents,
    tags=["deliveries"],
    summary="What happened to the delivery, in order",
    responses=problems(404),
)
def delivery_events(caller: CallerDep, delivery_id: str) -> Response:
    return json_response(reads.delivery_events(caller.ctx, caller.merchant, delivery_id))
