"""The web edge shared by the services: every error as RFC 9457 problem details with a
stable `code`, and a cap on request bodies."""

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sidewalk.kernel.errors import FieldError, SidewalkError

log = logging.getLogger("sidewalk.http")

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "/problems/"  # relative to the API: one page per code


def problem_response(
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    instance: str | None = None,
    errors: list[FieldError] | None = None,
    extra: dict[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + code.replace("_", "-"),
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = [{"field": e.field, "message": e.message} for e in errors]
    if extra:
        body.update(extra)
    return JSONResponse(
        body, status_code=status, media_type=PROBLEM_JSON, headers=dict(headers or {})
    )


def json_response(model: BaseModel, status_code: int = 200) -> Response:
    """A read model serialised once, in pydantic's own serialiser (the route's
    `response_model` documents it): a route that returns the model itself has it validated
    and serialised again by the web framework, which a hot route cannot afford."""
    return Response(model.model_dump_json(), status_code=status_code, media_type="application/json")


def _field_path(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    return ".".join(parts) or "body"


def _on_sidewalk_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SidewalkError)
    return problem_response(
        exc.status,
        exc.code,
        exc.title,
        exc.detail,
        instance=request.url.path,
        errors=exc.errors,
        extra=exc.extra,
        headers=exc.headers,
    )


def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        return problem_response(
            400,
            "malformed_json",
            "Malformed JSON",
            "The request body is not valid JSON",
            instance=request.url.path,
        )
    fields = [FieldError(_field_path(tuple(e.get("loc", ()))), str(e.get("msg"))) for e in errors]
    return problem_response(
        422,
        "validation_error",
        "Invalid request",
        "; ".join(f"{f.field}: {f.message}" for f in fields[:5]),
        instance=request.url.path,
        errors=fields,
    )


_HTTP_CODES = {
    400: ("bad_request", "Bad request"),
    401: ("unauthorized", "Unauthorized"),
    403: ("forbidden", "Forbidden"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    413: ("payload_too_large", "Request body too large"),
    415: ("unsupported_media_type", "Unsupported media type"),
}


def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code, title = _HTTP_CODES.get(exc.status_code, ("http_error", "HTTP error"))
    detail = exc.detail if isinstance(exc.detail, str) else title
    if exc.status_code == 400 and isinstance(exc.__cause__, ValueError):
        # The web framework could not even decode the body (not UTF-8, say).
        code, title, detail = (
            "malformed_json",
            "Malformed JSON",
            "The request body is not valid JSON",
        )
    return problem_response(
        exc.status_code, code, title, detail, instance=request.url.path, headers=exc.headers
    )


def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(
        500,
        "internal_error",
        "Internal error",
        "Something went wrong on our side; the request changed nothing",
        instance=request.url.path,
    )


def document_api(app: FastAPI, *, bearer_prefix: str, bearer_description: str) -> None:
    """Finish the OpenAPI document: error answers are sent as `application/problem+json`
    (FastAPI files every response model under `application/json`), and the routes under
    `bearer_prefix` take a bearer token (read by a plain dependency, not a security class)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        components = schema.setdefault("components", {})
        components.setdefault("securitySchemes", {})["bearer"] = {
            "type": "http",
            "scheme": "bearer",
            "description": bearer_description,
        }
        for path, operations in schema.get("paths", {}).items():
            for operation in operations.values():
                if path.startswith(bearer_prefix):
                    operation["security"] = [{"bearer": []}]
                for status, response in operation.get("responses", {}).items():
                    content = response.get("content", {})
                    if status[:1] in {"4", "5"} and "application/json" in content:
                        response["content"] = {PROBLEM_JSON: content["application/json"]}
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(SidewalkError, _on_sidewalk_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)


class BodySizeLimit:
    """Refuse bodies over `max_bytes` with 413 before they are read into memory, whether the
    client declares the length or streams the body in chunks."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(scope, receive, send)
            return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # Raised inside body parsing, where the web framework turns it into a 413.
                    raise HTTPException(
                        413, f"Request bodies are limited to {self.max_bytes} bytes"
                    )
            return message

        await self.app(scope, limited_receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(
            413,
            "payload_too_large",
            "Request body too large",
            f"Request bodies are limited to {self.max_bytes} bytes",
            instance=scope.get("path"),
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)
