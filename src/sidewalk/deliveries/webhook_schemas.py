"""What the webhook endpoints API accepts and answers, and the body of a webhook (Pydantic, at
the edge only)."""

from datetime import datetime
from typing import Annotated

import httpx
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from sidewalk.deliveries.schemas import DeliveryRead
from sidewalk.deliveries.webhook_domain import (
    MAX_URL_LENGTH,
    EndpointStatus,
    MessageStatus,
    WebhookEventType,
    check_endpoint_url,
)
from sidewalk.kernel.schemas import NO_NUL, Request


def _sendable(url: str) -> str:
    """The product's rules, then the HTTP client's own parser: a URL it cannot send to is
    refused now rather than failing every attempt for a day."""
    check_endpoint_url(url)
    try:
        httpx.URL(url)
    except (httpx.InvalidURL, ValueError) as e:
        raise ValueError(f"not a valid URL ({e})") from e
    return url


EndpointUrl = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_URL_LENGTH,
        examples=["https://example.com/hooks/sidewalk"],
        description="An absolute http(s) URL, without credentials.",
    ),
    AfterValidator(_sendable),
]


class WebhookEndpointCreate(Request):
    url: EndpointUrl
    events: Annotated[
        list[WebhookEventType],
        Field(min_length=1, max_length=50, description="The event types to receive."),
    ]
    description: Annotated[str, Field(max_length=500, pattern=NO_NUL)] | None = None

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "url": "https://example.com/hooks/sidewalk",
                    "events": ["delivery.enroute_to_pickup", "delivery.delivered"],
                    "description": "Order status for the shop's back office",
                }
            ]
        }
    )


class WebhookEndpointRead(BaseModel):
    id: str
    url: str
    description: str | None
    events: list[str]
    status: EndpointStatus = Field(
        description="`disabled` once the receiver answered `410 Gone`: it gets nothing more."
    )
    disabled_at: datetime | None
    disabled_reason: str | None
    created_at: datetime
    updated_at: datetime


class WebhookEndpointCreated(WebhookEndpointRead):
    secret: str = Field(
        description="The signing secret (`whsec_…`): shown here only, keep it safe.",
        examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
    )


class WebhookEndpointList(BaseModel):
    data: list[WebhookEndpointRead]


class WebhookAttemptRead(BaseModel):
    attempted_at: datetime
    status_code: int | None = Field(description="The receiver's answer; null when none came.")
    error: str | None = Field(description="Why no answer came (timeout, connection refused…).")
    duration_ms: int


class WebhookMessageRead(BaseModel):
    id: str = Field(description="The `webhook-id` header, the same on every attempt.")
    event_type: str
    delivery_id: str
    status: MessageStatus
    attempt_count: int
    next_attempt_at: datetime | None = Field(description="Null once the message is settled.")
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None
    attempts: list[WebhookAttemptRead] = Field(description="Every attempt, oldest first.")


class WebhookMessagePage(BaseModel):
    data: list[WebhookMessageRead]
    has_more: bool
    next_cursor: str | None = Field(description="Pass as `cursor` to get the next page.")


class WebhookPayload(BaseModel):
    """The body of every webhook, as Standard Webhooks recommends: the event's type and time,
    and the delivery exactly as `GET /v1/deliveries/{id}` showed it once the change was made."""

    type: str
    timestamp: datetime
    data: DeliveryRead
