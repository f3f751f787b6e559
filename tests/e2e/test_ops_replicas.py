"""`serve all --ops-workers N` and `serve operations --workers N`: N replica processes serve
the ops API on its one port, and none outlives the process that started them, even when it
is killed."""

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.cli import sidewalk_env
from tests.conftest import free_port
from tests.e2e.test_layouts import created, eventually
from tests.e2e.test_serve import wait_until_healthy

pytestmark = pytest.mark.slow


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"spawn_main" in command:
            found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("serve", ["all", "operations"])
def test_replicas_serve_the_ops_api_and_end_with_the_main_process(
    tmp_path: Path, serve: str
) -> None:
    env = sidewalk_env(tmp_path, "", SIDEWALK_LOG_LEVEL="warning")
    token = created("robots", "add", "--serial", "SW-1", "--name", "Bolt", env=env, cwd=tmp_path)[
        "token"
    ]
    api, ops = free_port(), free_port()
    command = (
        ["serve", "all", "--port", str(api), "--ops-port", str(ops), "--ops-workers", "2"]
        if serve == "all"
        else ["serve", "operations", "--port", str(ops), "--workers", "2"]
    )
    with _parent(command, env, tmp_path) as server:
        wait_until_healthy(f"http://127.0.0.1:{api if serve == 'all' else ops}", server)
        replicas = _children(server.pid)
        assert len(replicas) == 2
        # Each reading on a new connection: the kernel spreads them over the replicas, and
        # each replica takes the robot's readings and answers its state alike.
        fresh = httpx.Limits(max_keepalive_connections=0)
        auth = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{ops}", headers=auth, limits=fresh) as robot:
            for n in range(20):
                reading = {"lat": 34.09, "lng": -118.36 + n * 1e-5, "battery_pct": 90.0}
                answer = robot.post("/ops/v1/robots/SW-1/telemetry", json=reading)
                assert answer.status_code == 200, answer.text
                assert answer.json()["state"] == "idle"
            assert (
                robot.post(
                    "/ops/v1/robots/SW-1/telemetry", json={**reading, "state": "fault"}
                ).json()["state"]
                == "fault"
            )
        _kill_and_see_replicas_end(server, replicas)


def test_replicas_end_with_a_main_process_killed_while_they_start(tmp_path: Path) -> None:
    """Killed before every replica said it serves (the moment differs from kill to kill): a
    replica telling a dead parent that it serves must not wait for it forever."""
    env = sidewalk_env(tmp_path, "", SIDEWALK_LOG_LEVEL="warning")
    created("robots", "add", "--serial", "SW-1", "--name", "Bolt", env=env, cwd=tmp_path)
    for after_s in (0.3, 1.2):
        _kill_while_starting(env, tmp_path, after_s)


def _kill_while_starting(env: dict[str, str], cwd: Path, after_s: float) -> None:
    command = ["serve", "operations", "--port", str(free_port()), "--workers", "2"]
    with _parent(command, env, cwd) as server:
        replicas = eventually(lambda: _children(server.pid), "the replicas started")
        time.sleep(after_s)
        _kill_and_see_replicas_end(server, replicas | _children(server.pid))


@contextmanager
def _parent(command: list[str], env: dict[str, str], cwd: Path) -> Iterator[subprocess.Popen[str]]:
    """`sidewalk <command>` running, killed at the end if it still runs."""
    server = subprocess.Popen(
        [sys.executable, "-m", "sidewalk", *command],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        yield server
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(10)


def _kill_and_see_replicas_end(server: subprocess.Popen[str], replicas: set[int]) -> None:
    server.send_signal(signal.SIGKILL)
    server.wait(10)
    eventually(lambda: not any(_alive(pid) for pid in replicas), "the replicas ended")
