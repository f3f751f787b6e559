"""A private NATS JetStream server for the tests that stop and start one (the shared server is
left alone): on a free port, its store in a directory of the test, started again on the same
port and store. Without the `nats-server` program those tests are skipped, and fail with
CI=true."""

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.databases import IN_CI

# Debian installs it in /usr/sbin, which is not on every user's PATH.
_PLACES = ("/usr/sbin/nats-server", "/usr/local/sbin/nats-server", "/usr/local/bin/nats-server")


def nats_server_program() -> str:
    """The path of `nats-server`, or the test is skipped (failed in CI)."""
    found = shutil.which("nats-server") or next(
        (p for p in _PLACES if Path(p).is_file() and shutil.which(p)), None
    )
    if found is None:
        if IN_CI:
            pytest.fail("the nats-server program is needed in CI and is not installed")
        pytest.skip("needs the nats-server program (required in CI)")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class NatsServer:
    """One `nats-server -js` process at a time on a fixed port and store directory."""

    def __init__(self, store: Path) -> None:
        self.program = nats_server_program()
        self.port = free_port()
        self.store = store
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start it and wait until it takes connections (JetStream may need a moment more,
        which clients ride out)."""
        assert self._process is None, "already running"
        self._process = subprocess.Popen(
            [self.program, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.store)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                assert self._process.poll() is None, "nats-server exited at start"
                assert time.monotonic() < deadline, "nats-server did not start"
                time.sleep(0.05)

    def stop(self) -> None:
        """Terminate it, as an operator or a crash would, and wait for it to be gone."""
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(10)
            self._process = None
