"""Lean routes for the few endpoints called thousands of times a second (a fleet's robots
reporting): the same contract as the documented route of the web framework, served with a
fraction of its machinery.

A documented route (FastAPI's `APIRoute`) solves its dependencies, validates and serializes
through several layers for each request; for a robot's reading that costs more than the work
itself. A lean route is a plain Starlette route placed before it: it reads the path and the
JSON body with the same Pydantic types and raises the same `RequestValidationError`s, with the
same locations (`("path", name)`, `("body", ...)`), so the problem details answered are those
of the documented route. The documented route stays for the OpenAPI document (and the types
are shared with it), so the contract is written once.

A lean route is reached through its app's `LeanFrontDoor`, the outermost middleware: it is
answered there through the same request audit, body limit and problem handlers as every
route, in one layer instead of the framework's dozen (routing, exception middleware, exit
stacks, request and response wrappers)."""

import email.message
import functools
import inspect
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

LeanEndpoint = Callable[[Request, Any, dict[str, Any], Any], Awaitable[Response]]
_ABSENT = object()


def lean_json_route(
    path: str,
    endpoint: LeanEndpoint,
    *,
    caller: Callable[[Request], Awaitable[Any]],
    body: type[BaseModel],
    params: Mapping[str, TypeAdapter[Any]],
    method: str = "POST",
) -> Route:
    """A route for `method path` that calls `endpoint(request, who, path_params, body)`, in
    the documented route's order: the body is read (a body that is not JSON is refused
    first), then `caller(request)` says who calls, then the path parameters and the body are
    validated together."""

    async def handle(request: Request) -> Response:
        request.scope["route"] = route  # for the audit log's route template, as FastAPI does
        value = await _read_body(request)
        who = await caller(request)
        found, errors = _path_params(request, params)
        checked, body_errors = _validated(value, body)
        if errors or body_errors:
            raise RequestValidationError(errors + body_errors, body=value)
        return await endpoint(request, who, found, checked)

    route = Route(path, handle, methods=[method], include_in_schema=False)
    return route


def _path_params(
    request: Request, params: Mapping[str, TypeAdapter[Any]]
) -> tuple[dict[str, Any], list[Any]]:
    found, errors = {}, []
    for name, adapter in params.items():
        try:
            found[name] = adapter.validate_python(request.path_params[name])
        except ValidationError as e:
            errors += [{**err, "loc": ("path", name, *err["loc"])} for err in e.errors()]
    return found, errors


async def _read_body(request: Request) -> Any:
    """The body as JSON when its content type says so, else its bytes; `_ABSENT` if empty."""
    raw = await request.body()
    if not raw:
        return _ABSENT
    if not _is_json(request.headers.get("content-type")):
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError as e:
        raise RequestValidationError([_not_json(("body", e.pos), e.msg)], body=e.doc) from e
    except UnicodeDecodeError as e:
        raise RequestValidationError([_not_json(("body",), str(e))]) from e


def _validated(value: Any, model: type[BaseModel]) -> tuple[BaseModel | None, list[Any]]:
    if value is _ABSENT:
        return None, [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
    try:
        return model.model_validate(value, from_attributes=True), []  # as the framework does
    except ValidationError as e:
        return None, [{**err, "loc": ("body", *err["loc"])} for err in e.errors()]


def _not_json(loc: tuple[Any, ...], why: str) -> dict[str, Any]:
    return {"type": "json_invalid", "loc": loc, "msg": "JSON decode error", "input": {},
            "ctx": {"error": why}}  # fmt: skip


@functools.lru_cache(maxsize=64)
def _is_json(content_type: str | None) -> bool:
    """Whether the body is to be read as JSON: `application/json` or `application/*+json`
    (a body without a content type is not, as with the documented routes)."""
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


ExceptionHandler = Callable[[Request, Exception], Response | Awaitable[Response]]


class LeanFrontDoor:
    """ASGI middleware, added last: a request for one of `routes` goes through `wrap(answer)`
    (the request audit and the body limit, as every request does) to the route, whose errors
    become the answers `handlers` make of them, as the framework would; any other request goes
    on to `app`, as does one whose method the route does not take (for the framework's 405)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        routes: Sequence[Route],
        wrap: Callable[[ASGIApp], ASGIApp],
        handlers: Mapping[Any, ExceptionHandler],
    ) -> None:
        self.app, self.routes, self.handlers = app, routes, handlers
        self.door = wrap(self._answer)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for route in self.routes:
                match, child = route.matches(scope)
                if match is Match.FULL:
                    scope.update(child)
                    await self.door(scope, receive, send)
                    return
        await self.app(scope, receive, send)

    async def _answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)
        try:
            response: Response = await scope["endpoint"](request)
        except Exception as error:
            handler = next(
                (self.handlers[t] for t in type(error).__mro__ if t in self.handlers), None
            )
            if handler is None:
                raise
            made = handler(request, error)
            response = await made if inspect.isawaitable(made) else made
        await response(scope, receive, send)
