"""Where real courier networks send their webhooks: `/couriers/doordash/webhooks` and
`/couriers/uber/webhooks`. No merchant key (they are not merchants, and not in the merchant
API); a network is heard only when it is the one configured and proves who it is: DoorDash
with the `Authorization` header set for it, Uber with its signature. Anything else is refused
before the body is read as JSON, and changes nothing. An update is applied before the answer,
so a 2xx means it is kept; a network retries what it did not get a 2xx for."""

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from sidewalk.deliveries.context import DeliveriesContext
from sidewalk.deliveries.providers import courier_webhooks
from sidewalk.deliveries.providers.courier import CourierUpdate
from sidewalk.deliveries.providers.courier_updates import apply_courier_update
from sidewalk.kernel.errors import NotFound, Unauthorized, Unprocessable

router = APIRouter()

Reader = Callable[[Mapping[str, Any], datetime], CourierUpdate | None]


def _ctx(request: Request) -> DeliveriesContext:
    ctx: DeliveriesContext = request.app.state.deliveries
    return ctx


def _not_ours(network: str) -> NotFound:
    return NotFound(f"No {network} webhooks are taken here", code="courier_network_not_configured")


async def _apply(ctx: DeliveriesContext, body: bytes, read: Reader) -> dict[str, bool]:
    try:
        payload = json.loads(body)
    except ValueError as e:
        raise Unprocessable("The body is not JSON", code="malformed_json") from e
    if not isinstance(payload, dict):
        raise Unprocessable("The body is not a JSON object", code="malformed_json")
    try:
        update = read(payload, ctx.clock.now())
    except (KeyError, TypeError, ValueError) as e:
        raise Unprocessable(f"The webhook cannot be read: {e}", code="unreadable_webhook") from e
    if update is not None:
        await run_in_threadpool(apply_courier_update, ctx, update)
    return {"accepted": update is not None}


@router.post("/couriers/doordash/webhooks", include_in_schema=False)
async def doordash_webhook(request: Request) -> dict[str, bool]:
    ctx = _ctx(request)
    expected = ctx.settings.doordash_webhook_authorization
    if ctx.settings.courier_provider != "doordash" or expected is None:
        raise _not_ours("DoorDash")
    if not courier_webhooks.doordash_caller_ok(
        request.headers.get("authorization"), expected.get_secret_value()
    ):
        raise Unauthorized("Not DoorDash's webhook credentials", code="invalid_webhook_auth")
    return await _apply(ctx, await request.body(), courier_webhooks.doordash_update)


@router.post("/couriers/uber/webhooks", include_in_schema=False)
async def uber_webhook(request: Request) -> dict[str, bool]:
    ctx = _ctx(request)
    key = ctx.settings.uber_webhook_signing_key
    if ctx.settings.courier_provider != "uber" or key is None:
        raise _not_ours("Uber")
    body = await request.body()
    signature = request.headers.get("x-uber-signature") or request.headers.get(
        "x-postmates-signature"
    )
    if not courier_webhooks.uber_signature_ok(body, signature, key.get_secret_value()):
        raise Unauthorized("The webhook's signature does not match", code="invalid_signature")
    return await _apply(ctx, body, courier_webhooks.uber_update)
