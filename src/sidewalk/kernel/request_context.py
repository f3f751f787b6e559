"""The API request a piece of work is done for, carried along: set by the request log's
middleware for each request, and by the event consumers from the event they handle, so that
log lines and the events a use case writes name the request that caused them, across both
services."""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

REQUEST_ID: ContextVar[str | None] = ContextVar("sidewalk_request_id", default=None)


def current_request_id() -> str | None:
    return REQUEST_ID.get()


@contextmanager
def working_for(request_id: str | None) -> Iterator[None]:
    token = REQUEST_ID.set(request_id)
    try:
        yield
    finally:
        REQUEST_ID.reset(token)
