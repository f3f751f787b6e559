"""The audit log of API interactions, who did what and when, which the analytics warehouse
mirrors from each service's `<owner>_api_requests` table.

`RequestAudit` times each API request and, once its status is known, appends a row to the
service's `AuditLog`: a buffer in memory that a background thread writes (one multi-row INSERT
per `batch_rows`) when it fills up, every `audit_flush_interval_s` seconds and on shutdown. No
request waits on the database for its row; in exchange a crash loses the rows of at most the
last interval, and a write that fails is logged and its rows dropped. The routes' credentials
check tells who called (`identify`); a request refused before that is `anonymous`. Only the
method, the route's template, its path parameters, the status and the timing are kept: never
keys, tokens, query strings or bodies."""

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Connection,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    insert,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sidewalk.kernel.clock import Clock
from sidewalk.kernel.db import UTCDateTime
from sidewalk.kernel.flusher import Flusher
from sidewalk.kernel.ids import new_id
from sidewalk.kernel.request_context import REQUEST_ID

log = logging.getLogger(__name__)

ActorType = Literal["merchant", "operator", "robot", "anonymous"]

UNMATCHED = "unmatched"
REQUEST_ID_HEADER = b"x-request-id"
_SANE_REQUEST_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}")
_ACTOR_KEY = "sidewalk.audit.actor"
_MAX_ENTITY_ID = 64
_SECRET_PIECE = 12  # this many characters of a credential are too many to log


def audit_table(metadata: MetaData, owner: str) -> Table:
    name = f"{owner}_api_requests"
    return Table(
        name,
        metadata,
        Column(
            "seq",
            BigInteger().with_variant(Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        Column("request_id", String(64), nullable=False),
        Column("at", UTCDateTime(), nullable=False),
        Column("actor_type", String(16), nullable=False),
        Column("actor_id", String(64), nullable=True),
        Column("method", String(8), nullable=False),
        Column("route", String(200), nullable=False),
        Column("status_code", Integer, nullable=False),
        Column("entity_ids", JSON, nullable=False),
        Column("duration_ms", Integer, nullable=False),
        Index(f"ix_{name}_at", "at"),
    )


@dataclass(slots=True)
class _Actor:
    type: ActorType = "anonymous"
    id: str | None = None


def identify(scope: Scope, actor_type: ActorType, actor_id: str) -> None:
    """Tell the audit who makes this request, once the credentials are checked (a no-op
    outside `RequestAudit`)."""
    actor = scope.get(_ACTOR_KEY)
    if actor is not None:
        actor.type, actor.id = actor_type, actor_id


class AuditLog:
    """The buffer of a service's audit rows and the thread that writes them. Each app serving
    the service calls `start` and `stop`; the thread runs while any of them does."""

    def __init__(
        self,
        engine: Engine,
        table: Table,
        *,
        flush_interval_s: float,
        batch_rows: int = 500,
        write_lock: AbstractContextManager[object] | None = None,
    ) -> None:
        """`write_lock`, when given, is held while a batch is written (the services' SQLite
        write lock, so that their writers queue instead of meeting a busy database)."""
        self._engine, self._table = engine, table
        self._insert = insert(table)
        self._interval, self._batch_rows = flush_interval_s, batch_rows
        self._write_lock = write_lock or nullcontext()
        self._rows: list[dict[str, Any]] = []
        self._lock = threading.Lock()  # guards the buffer
        self._flushing = threading.Lock()  # one flush at a time, so rows keep their order
        self._writer = Flusher(self.flush, flush_interval_s, name=table.name)
        self.start, self.stop = self._writer.start, self._writer.stop

    def record(self, row: dict[str, Any]) -> None:
        with self._lock:
            self._rows.append(row)
            full = len(self._rows) >= self._batch_rows
        if full:
            self._writer.wake()

    def flush(self) -> int:
        """Write the rows buffered so far; how many were written. Never raises."""
        with self._flushing:
            with self._lock:
                rows, self._rows = self._rows, []
            if not rows:
                return 0
            try:
                with self._write_lock, self._engine.begin() as connection:
                    if connection.dialect.name == "postgresql":
                        self._copy(connection, rows)
                    else:
                        # One statement, compiled once, executed for many rows (a multi-row
                        # VALUES would be compiled anew for every batch).
                        connection.execute(self._insert, rows)
            except Exception:
                log.exception("%d rows of %s were not written", len(rows), self._table.name)
                return 0
            return len(rows)

    def _copy(self, connection: Connection, rows: list[dict[str, Any]]) -> None:
        """PostgreSQL takes the batch as one COPY: a statement per row costs the writer's
        thread more than the rows themselves."""
        names = [c.name for c in self._table.columns if c.name != "seq"]
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        columns = ", ".join(names)
        with cursor.copy(f"COPY {self._table.name} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([json.dumps(row[n]) if n == "entity_ids" else row[n] for n in names])


class RequestAudit:
    """ASGI middleware: records every request under `prefix` in `audit` and answers it with
    its `X-Request-ID`, the caller's own when it is sane, else a new one."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        audit: AuditLog,
        clock: Clock,
        prefix: str,
        observe: Callable[[Mapping[str, Any]], None] | None = None,
    ) -> None:
        self.app, self.audit, self.clock, self.prefix = app, audit, clock, prefix
        self.observe = observe  # told each row too (the request metrics)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        began, at = time.perf_counter(), self.clock.now()
        request_id = _request_id(scope["headers"])
        id_header = (REQUEST_ID_HEADER, request_id.encode("ascii"))
        actor = scope[_ACTOR_KEY] = _Actor()
        status = 500  # unless the app answers: an error that escapes it becomes a 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), id_header]}
            await send(message)

        token = REQUEST_ID.set(request_id)  # for the logs and the events of this request
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)
            row = _row(scope, request_id, at, actor, status, began)
            self.audit.record(row)
            if self.observe is not None:
                self.observe(row)


def _request_id(headers: list[tuple[bytes, bytes]]) -> str:
    """The caller's request id if it is 1-64 of `[A-Za-z0-9._-]` and no long piece of its
    credentials (a key sent as a request id by mistake must not reach the log); else a new
    one."""
    given = next((v for k, v in headers if k == REQUEST_ID_HEADER), None)
    if given is None or not _SANE_REQUEST_ID.fullmatch(given):
        return new_id("req")
    authorization = next((v for k, v in headers if k == b"authorization"), b"")
    if len(given) >= _SECRET_PIECE and given in authorization:
        return new_id("req")
    return given.decode("ascii")


# Path parameters that are credentials (a tracking link's token): never written down.
_SECRET_PARAMS = frozenset({"token"})


def _row(
    scope: Scope, request_id: str, at: datetime, actor: _Actor, status: int, began: float
) -> dict[str, Any]:
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    params = scope.get("path_params") or {}
    return {
        "request_id": request_id,
        "at": at,
        "actor_type": actor.type,
        "actor_id": actor.id,
        "method": scope["method"][:8],
        "route": str(template)[:200] if template else UNMATCHED,
        "status_code": status,
        "entity_ids": {
            str(k): str(v)[:_MAX_ENTITY_ID] for k, v in params.items() if k not in _SECRET_PARAMS
        },
        "duration_ms": round((time.perf_counter() - began) * 1000),
    }
