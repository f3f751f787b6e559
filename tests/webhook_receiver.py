"""A merchant's webhook receiver for tests: a real HTTP server on a free local port that keeps
every request it gets and answers with the status it is told to, and a signature check written
with the independent Standard Webhooks library."""

import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]  # lowercase names
    body: bytes
    answered: int

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def json(self) -> dict[str, Any]:
        payload: dict[str, Any] = json.loads(self.body)
        return payload


class Receiver:
    """Answers `status` (200 unless told otherwise), or what `answer(path)` returns when set,
    after `delay_s`; a request is kept as soon as it arrives."""

    def __init__(self, port: int = 0) -> None:
        self.status = 200
        self.answer: Callable[[str], int] | None = None
        self.delay_s = 0.0
        self.received: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                status = receiver.answer(self.path) if receiver.answer else receiver.status
                with receiver._lock:
                    receiver.received.append(
                        Received(
                            self.path, {k.lower(): v for k, v in self.headers.items()}, body, status
                        )
                    )
                time.sleep(receiver.delay_s)
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def accepted(self) -> list[Received]:
        with self._lock:
            return [r for r in self.received if 200 <= r.answered < 300]

    def at(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path]


@contextmanager
def running_receiver(port: int = 0) -> Iterator[Receiver]:
    """A receiver on `port` (any free one by default) until the block ends."""
    receiver = Receiver(port)
    thread = threading.Thread(target=receiver._server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver._server.shutdown()
        receiver._server.server_close()
        thread.join(timeout=10)


def signature_is_valid(secret: str, received: Received) -> bool:
    """Check the signature with the Standard Webhooks library's own HMAC, at the request's own
    timestamp (its `verify` also refuses timestamps five minutes away from the wall clock, which
    the tests' manual clock is)."""
    timestamp = datetime.fromtimestamp(int(received.headers["webhook-timestamp"]), UTC)
    expected = Webhook(secret).sign(received.id, timestamp, received.body.decode())
    offered = received.headers["webhook-signature"].split(" ")
    return any(hmac.compare_digest(expected, signature) for signature in offered)


def verify_now(secret: str, received: Received) -> dict[str, Any]:
    """The library's full check, wall-clock tolerance included, for tests on real time."""
    payload: dict[str, Any] = Webhook(secret).verify(received.body, received.headers)
    return payload
