"""Local stand-ins of DoorDash Drive v2 and Uber Direct for the adapters' tests: real HTTP
servers that check credentials and serve the request and response shapes of the networks'
public API references (DoorDash's Drive OpenAPI v2.1.59; Uber's Direct API OpenAPI and OAuth
guide), and make the webhooks each network sends, as they document them. A test moves a job
along with `advance`, which returns the webhook to post to the platform."""

import base64
import hashlib
import hmac
import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import jwt
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _error(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"code": code, "message": message, **extra}, status_code=status)


# --- DoorDash Drive v2 -----------------------------------------------------------------------

DD_EVENTS = {
    "confirmed": "DASHER_CONFIRMED",
    "enroute_to_pickup": "DASHER_ENROUTE_TO_PICKUP",
    "arrived_at_pickup": "DASHER_CONFIRMED_PICKUP_ARRIVAL",
    "picked_up": "DASHER_PICKED_UP",
    "enroute_to_dropoff": "DASHER_ENROUTE_TO_DROPOFF",
    "arrived_at_dropoff": "DASHER_CONFIRMED_DROPOFF_ARRIVAL",
    "delivered": "DASHER_DROPPED_OFF",
    "enroute_to_return": "DELIVERY_RETURN_INITIALIZED",
    "returned": "DELIVERY_RETURNED",
    "cancelled": "DELIVERY_CANCELLED",
}
DD_NOT_CANCELLABLE = {
    "picked_up",
    "enroute_to_dropoff",
    "arrived_at_dropoff",
    "delivered",
    "enroute_to_return",
    "arrived_at_return",
    "returned",
    "cancelled",
}
DD_ID = re.compile(r"^[a-zA-Z0-9-._~]+$")


@dataclass
class DoorDash:
    """Drive v2: JWT-authenticated quotes, accepts, reads, updates and cancels."""

    developer_id: str = "a1b2c3d4-0000-4000-8000-000000000001"
    key_id: str = "a1b2c3d4-0000-4000-8000-000000000002"
    # The portal shows the signing secret base64url-encoded, without padding.
    signing_secret: str = base64.urlsafe_b64encode(b"s" * 32).decode().rstrip("=")
    webhook_authorization: str = "Bearer dd-webhook-token"
    deliveries: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[tuple[str, str, Any]] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.middleware("http")
        async def authenticate(request: Request, call_next: Any) -> Any:
            if not self._jwt_ok(request.headers.get("authorization", "")):
                return _error(401, "authentication_error", "The JWT is not valid")
            return await call_next(request)

        @app.post("/drive/v2/quotes")
        async def quote(request: Request) -> JSONResponse:
            body = await request.json()
            self.calls.append(("POST", "/drive/v2/quotes", body))
            ident = body.get("external_delivery_id", "")
            if not DD_ID.match(ident) or not body.get("dropoff_address"):
                return _error(
                    400,
                    "validation_error",
                    "One or more request values couldn't be validated.",
                    field_errors=[{"field": "external_delivery_id", "error": "required"}],
                )
            if ident in self.deliveries:
                return _error(
                    409,
                    "duplicate_delivery_id",
                    "Duplicate External Delivery ID",
                    external_delivery_id=ident,
                )
            now = datetime.now(UTC)
            self.deliveries[ident] = {
                **body,
                "delivery_status": "quote",
                "fee": 975,
                "currency": "USD",
                "pickup_time_estimated": (now + timedelta(minutes=20)).isoformat(),
                "dropoff_time_estimated": (now + timedelta(minutes=45)).isoformat(),
                "support_reference": "86313",
                "tracking_url": f"https://doordash.example/tracking?id={ident}",
                "updated_at": now.isoformat(),
            }
            return JSONResponse(self.deliveries[ident])

        @app.post("/drive/v2/quotes/{ident}/accept")
        async def accept(ident: str, request: Request) -> JSONResponse:
            self.calls.append(("POST", f"/drive/v2/quotes/{ident}/accept", None))
            found = self.deliveries.get(ident)
            if found is None:
                return self._unknown(ident)
            if found["delivery_status"] != "quote":
                return _error(
                    409,
                    "duplicate_delivery_id",
                    "Duplicate External Delivery ID",
                    external_delivery_id=ident,
                )
            found["delivery_status"] = "created"
            return JSONResponse(found)

        @app.get("/drive/v2/deliveries/{ident}")
        async def read(ident: str) -> JSONResponse:
            found = self.deliveries.get(ident)
            return JSONResponse(found) if found else self._unknown(ident)

        @app.patch("/drive/v2/deliveries/{ident}")
        async def update(ident: str, request: Request) -> JSONResponse:
            body = await request.json()
            self.calls.append(("PATCH", f"/drive/v2/deliveries/{ident}", body))
            found = self.deliveries.get(ident)
            if found is None:
                return self._unknown(ident)
            if found["delivery_status"] in ("delivered", "cancelled"):
                return _error(
                    409,
                    "update_not_allowed",
                    "Update is no longer possible",
                    reason="delivery_completed",
                )
            found.update(body)
            return JSONResponse(found)

        @app.put("/drive/v2/deliveries/{ident}/cancel")
        async def cancel(ident: str) -> JSONResponse:
            self.calls.append(("PUT", f"/drive/v2/deliveries/{ident}/cancel", None))
            found = self.deliveries.get(ident)
            if found is None:
                return self._unknown(ident)
            if found["delivery_status"] in DD_NOT_CANCELLABLE:
                return _error(
                    409,
                    "cancel_not_allowed",
                    "Cancellation is no longer possible",
                    reason="delivery_picked_up",
                )
            found.update(delivery_status="cancelled", cancellation_reason="cancelled_by_creator")
            return JSONResponse(found)

        return app

    def advance(self, ident: str, status: str, **fields: Any) -> dict[str, Any]:
        """Move the delivery on; the webhook DoorDash sends for it (flat, with the delivery's
        fields, as integrators' logs show them)."""
        found = self.deliveries[ident]
        found.update(delivery_status=status, updated_at=_now(), **fields)
        return {"event_name": DD_EVENTS[status], "created_at": _now(), **found}

    def _jwt_ok(self, authorization: str) -> bool:
        token = authorization.removeprefix("Bearer ")
        secret = base64.urlsafe_b64decode(
            self.signing_secret + "=" * (-len(self.signing_secret) % 4)
        )
        try:
            if jwt.get_unverified_header(token).get("dd-ver") != "DD-JWT-V1":
                return False
            claims = jwt.decode(token, secret, algorithms=["HS256"], audience="doordash")
        except jwt.PyJWTError:
            return False
        lifetime = claims["exp"] - claims["iat"]
        return (
            claims.get("iss") == self.developer_id
            and claims.get("kid") == self.key_id
            and 0 < lifetime <= 1800
        )

    @staticmethod
    def _unknown(ident: str) -> JSONResponse:
        return _error(
            404,
            "unknown_delivery_id",
            "External delivery ID was not found",
            external_delivery_id=ident,
        )


# --- Uber Direct -----------------------------------------------------------------------------

UBER_REQUIRED = (
    "pickup_name",
    "pickup_address",
    "pickup_phone_number",
    "dropoff_name",
    "dropoff_address",
    "dropoff_phone_number",
    "manifest_items",
)
UBER_NOT_CANCELLABLE = {"pickup_complete", "dropoff", "delivered", "canceled", "returned"}


@dataclass
class Uber:
    """Direct: client-credentials tokens, quotes, creates (deduplicated by idempotency key),
    reads, updates and cancels, and signed webhooks."""

    customer_id: str = "cus_sidewalk-test"
    client_id: str = "uber-client"
    client_secret: str = "uber-client-secret"
    signing_key: str = "c5c26d5a-70d6-46c7-a652-d7c09825ad29"
    deliveries: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[tuple[str, str, Any]] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def app(self) -> FastAPI:
        app = FastAPI()
        base = f"/v1/customers/{self.customer_id}"

        @app.post("/oauth/v2/token")
        async def token(request: Request) -> JSONResponse:
            form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
            if (form.get("client_id"), form.get("client_secret")) != (
                self.client_id,
                self.client_secret,
            ) or form.get("grant_type") != "client_credentials":
                return JSONResponse({"error": "invalid_client"}, status_code=401)
            issued = f"tok_{next(self._ids)}"
            self.tokens.add(issued)
            return JSONResponse(
                {
                    "access_token": issued,
                    "token_type": "Bearer",
                    "expires_in": 2592000,
                    "scope": form.get("scope"),
                }
            )

        @app.middleware("http")
        async def authenticate(request: Request, call_next: Any) -> Any:
            bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
            if request.url.path.startswith("/v1/") and bearer not in self.tokens:
                return JSONResponse(
                    {"code": "unauthorized", "message": "Invalid OAuth 2.0 credentials provided."},
                    status_code=401,
                )
            return await call_next(request)

        @app.post(f"{base}/delivery_quotes")
        async def quote(request: Request) -> JSONResponse:
            body = await request.json()
            self.calls.append(("POST", "delivery_quotes", body))
            if not body.get("pickup_address") or not body.get("dropoff_address"):
                return self._invalid("pickup_address and dropoff_address are required")
            now = datetime.now(UTC)
            return JSONResponse(
                {
                    "kind": "delivery_quote",
                    "id": f"dqt_{next(self._ids)}",
                    "created": _now(),
                    "expires": (now + timedelta(minutes=15)).isoformat(),
                    "fee": 1150,
                    "currency": "usd",
                    "currency_type": "USD",
                    "dropoff_eta": (now + timedelta(minutes=40)).isoformat(),
                    "duration": 40,
                    "pickup_duration": 18,
                    "dropoff_deadline": (now + timedelta(minutes=90)).isoformat(),
                }
            )

        @app.post(f"{base}/deliveries")
        async def create(request: Request) -> JSONResponse:
            body = await request.json()
            self.calls.append(("POST", "deliveries", body))
            missing = [f for f in UBER_REQUIRED if not body.get(f)]
            if missing:
                return self._invalid(f"{', '.join(missing)} required")
            for address in (body["pickup_address"], body["dropoff_address"]):
                json.loads(address)  # a JSON-encoded structured address
            key = body.get("idempotency_key")
            for known in self.deliveries.values():
                if key and known["idempotency_key"] == key:
                    return JSONResponse(
                        {
                            "code": "duplicate_delivery",
                            "kind": "error",
                            "message": "An active delivery like this already exists.",
                            "metadata": {"delivery_id": known["id"]},
                        },
                        status_code=409,
                    )
            ident = f"del_{next(self._ids)}"
            now = datetime.now(UTC)
            self.deliveries[ident] = {
                "id": ident,
                "kind": "delivery",
                "status": "pending",
                "complete": False,
                "live_mode": False,
                "created": _now(),
                "updated": _now(),
                "fee": 1150,
                "currency": "usd",
                "external_id": body.get("external_id"),
                "idempotency_key": key,
                "undeliverable_action": "",
                "undeliverable_reason": "",
                "pickup_eta": (now + timedelta(minutes=18)).isoformat(),
                "dropoff_eta": (now + timedelta(minutes=40)).isoformat(),
                "pickup": {"name": body["pickup_name"], "notes": body.get("pickup_notes")},
                "dropoff": {"name": body["dropoff_name"], "notes": body.get("dropoff_notes")},
                "courier": None,
                "tracking_url": f"https://uber.example/track/{ident}",
                "request": body,
            }
            return JSONResponse(self._shown(ident))

        @app.get(f"{base}/deliveries/{{ident}}")
        async def read(ident: str) -> JSONResponse:
            return JSONResponse(self._shown(ident)) if ident in self.deliveries else self._gone()

        @app.post(f"{base}/deliveries/{{ident}}")
        async def update(ident: str, request: Request) -> JSONResponse:
            body = await request.json()
            self.calls.append(("POST", f"deliveries/{ident}", body))
            if ident not in self.deliveries:
                return self._gone()
            self.deliveries[ident]["dropoff"]["notes"] = body.get("dropoff_notes")
            return JSONResponse(self._shown(ident))

        @app.post(f"{base}/deliveries/{{ident}}/cancel")
        async def cancel(ident: str) -> JSONResponse:
            self.calls.append(("POST", f"deliveries/{ident}/cancel", None))
            found = self.deliveries.get(ident)
            if found is None:
                return self._gone()
            if found["status"] in UBER_NOT_CANCELLABLE:
                return JSONResponse(
                    {
                        "code": "noncancelable_delivery",
                        "kind": "error",
                        "message": "Delivery cannot be cancelled",
                    },
                    status_code=400,
                )
            found.update(status="canceled", complete=True)
            return JSONResponse(self._shown(ident))

        return app

    def advance(
        self,
        ident: str,
        status: str,
        *,
        courier_at: tuple[float, float] | None = None,
        **fields: Any,
    ) -> tuple[bytes, str]:
        """Move the delivery on; the `event.delivery_status` webhook Uber sends for it, signed."""
        found = self.deliveries[ident]
        found.update(status=status, updated=_now(), **fields)
        if courier_at is not None:
            found["courier"] = {
                "name": "Alex I.",
                "vehicle_type": "bicycle",
                "location": {"lat": courier_at[0], "lng": courier_at[1]},
            }
        return self.sign(
            {
                "id": f"evt_{next(self._ids)}",
                "kind": "event.delivery_status",
                "delivery_id": ident,
                "status": status,
                "created": _now(),
                "live_mode": False,
                "data": self._shown(ident),
            }
        )

    def courier_update(self, ident: str, lat: float, lng: float) -> tuple[bytes, str]:
        return self.sign(
            {
                "id": f"evt_{next(self._ids)}",
                "kind": "event.courier_update",
                "delivery_id": ident,
                "created": _now(),
                "live_mode": False,
                "location": {"lat": lat, "lng": lng},
                "data": self._shown(ident),
            }
        )

    def sign(self, payload: dict[str, Any]) -> tuple[bytes, str]:
        body = json.dumps(payload).encode()
        return body, hmac.new(self.signing_key.encode(), body, hashlib.sha256).hexdigest()

    def _shown(self, ident: str) -> dict[str, Any]:
        return {
            k: v
            for k, v in self.deliveries[ident].items()
            if k not in ("request", "idempotency_key")
        }

    @staticmethod
    def _invalid(detail: str) -> JSONResponse:
        return JSONResponse(
            {
                "code": "invalid_params",
                "kind": "error",
                "message": "The parameters of your request were invalid.",
                "metadata": {"param_details": detail},
            },
            status_code=400,
        )

    @staticmethod
    def _gone() -> JSONResponse:
        return JSONResponse(
            {
                "code": "delivery_not_found",
                "kind": "error",
                "message": "The requested delivery does not exist.",
            },
            status_code=404,
        )
