"""The merchant's webhook endpoints (`/v1/webhook-endpoints`) and their delivery log. Routes only
translate HTTP to use cases and back."""

from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from sidewalk.deliveries import webhooks
from sidewalk.deliveries.api import CallerDep, problems
from sidewalk.deliveries.webhook_domain import MessageStatus
from sidewalk.deliveries.webhook_schemas import (
    WebhookEndpointCreate,
    WebhookEndpointCreated,
    WebhookEndpointList,
    WebhookEndpointRead,
    WebhookMessagePage,
    WebhookPayload,
)
from sidewalk.kernel.http import json_response

router = APIRouter(
    prefix="/v1/webhook-endpoints", tags=["webhooks"], responses=problems(401, 413, 422, 429)
)


@router.post(
    "",
    status_code=201,
    response_model=WebhookEndpointCreated,
    summary="Receive signed status webhooks at a URL",
    description="Answers the endpoint with its signing `secret`, shown this once. Each message "
    "is signed as Standard Webhooks specify (`webhook-id`, `webhook-timestamp`, "
    "`webhook-signature`) and retried with exponential backoff for up to a day.",
    responses=problems(400, 409),
)
def create_endpoint(caller: CallerDep, body: WebhookEndpointCreate) -> Response:
    created = webhooks.create_endpoint(caller.ctx, caller.merchant, body)
    response = json_response(created, 201)
    response.headers["Location"] = f"{router.prefix}/{created.id}"
    return response


@router.get("", response_model=WebhookEndpointList, summary="The merchant's webhook endpoints")
def list_endpoints(caller: CallerDep) -> Response:
    return json_response(webhooks.list_endpoints(caller.ctx, caller.merchant))


@router.get(
    "/{endpoint_id}",
    response_model=WebhookEndpointRead,
    summary="One webhook endpoint (never its secret)",
    responses=problems(404),
)
def get_endpoint(caller: CallerDep, endpoint_id: str) -> Response:
    return json_response(webhooks.get_endpoint(caller.ctx, caller.merchant, endpoint_id))


@router.delete(
    "/{endpoint_id}",
    status_code=204,
    response_class=Response,
    summary="Stop sending to an endpoint; its waiting messages end",
    responses=problems(404),
)
def delete_endpoint(caller: CallerDep, endpoint_id: str) -> Response:
    webhooks.delete_endpoint(caller.ctx, caller.merchant, endpoint_id)
    return Response(status_code=204)


@router.get(
    "/{endpoint_id}/deliveries",
    response_model=WebhookMessagePage,
    summary="What was sent to an endpoint, newest first, with every attempt",
    responses=problems(404),
)
def endpoint_log(
    caller: CallerDep,
    endpoint_id: str,
    status: Annotated[MessageStatus | None, Query()] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
) -> Response:
    return json_response(
        webhooks.endpoint_log(
            caller.ctx, caller.merchant, endpoint_id, status=status, cursor=cursor, limit=limit
        )
    )


# What the merchant's endpoint receives, for the OpenAPI document's `webhooks` (never served).
webhook_docs = APIRouter()


@webhook_docs.post(
    "delivery-status",
    tags=["webhooks"],
    summary="A delivery's status changed",
    description="POSTed to each enabled endpoint subscribed to the event's `type`. Verify the "
    "signature before trusting the body: base64 HMAC-SHA256, keyed with the base64-decoded "
    "part of the secret after `whsec_`, of `{webhook-id}.{webhook-timestamp}.{body}`. Answer "
    "2xx to accept; anything else is retried (about 5 s, 5 min, 30 min, 2 h, 5 h, then every "
    "10 h) until a day has passed; `410 Gone` disables the endpoint.",
    status_code=200,
    response_class=Response,
    responses={
        200: {"description": "Any 2xx answer accepts the webhook"},
        "4XX": {"description": "Retried; but `410 Gone` disables the endpoint"},
        "5XX": {"description": "Retried, as are timeouts and refused connections"},
    },
)
def delivery_status(
    body: WebhookPayload,
    webhook_id: Annotated[
        str, Header(alias="webhook-id", description="The message id, the same on every retry.")
    ],
    webhook_timestamp: Annotated[
        str, Header(alias="webhook-timestamp", description="Unix seconds of this attempt.")
    ],
    webhook_signature: Annotated[
        str, Header(alias="webhook-signature", description="`v1,<base64 HMAC-SHA256>`.")
    ],
) -> Response:
    raise NotImplementedError("documentation only: the merchant's endpoint receives this")
