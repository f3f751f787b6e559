"""Robot readings held in memory and written in batches, against real server processes: a
process killed between two writes loses at most the readings since the last one and never a
state change, and two processes ingesting for one fleet on PostgreSQL keep the newest reading
whichever process took it."""

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, Row, select

from sidewalk.kernel.db import make_engine
from sidewalk.kernel.settings import Settings
from sidewalk.operations.models import Robot, StateHistory
from tests.cli import run_sidewalk, sidewalk_env
from tests.conftest import free_port
from tests.databases import fresh_postgres_database
from tests.e2e.test_serve import wait_until_healthy

pytestmark = pytest.mark.slow

FLUSH_S = "0.3"
WAIT_S = 20  # the longest a written reading may take to show (a bound, not a timing)
START = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def _env(tmp_path: Path, database_url: str) -> dict[str, str]:
    return sidewalk_env(
        tmp_path,
        database_url,
        SIDEWALK_TELEMETRY_FLUSH_INTERVAL_S=FLUSH_S,
        SIDEWALK_LOG_LEVEL="warning",
    )


def _add_robot(serial: str, env: dict[str, str], cwd: Path) -> str:
    made = run_sidewalk("robots", "add", "--serial", serial, "--name", serial, "--json",
                        env=env, cwd=cwd)  # fmt: skip
    assert made.returncode == 0, made.stderr
    token: str = json.loads(made.stdout)["token"]
    return token


@contextmanager
def _server(env: dict[str, str], cwd: Path, *, dispatch: bool = False) -> Iterator[tuple[str, Any]]:
    port = free_port()
    command = [sys.executable, "-m", "sidewalk", "serve", "operations", "--port", str(port)]
    command.append("--dispatch" if dispatch else "--no-dispatch")
    server = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, server)
        yield url, server
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
        server.communicate(timeout=30)


def _operations_engine(env: dict[str, str]) -> Engine:
    settings = {k.removeprefix("SIDEWALK_").lower(): v for k, v in env.items() if "SIDEWALK_" in k}
    return make_engine(Settings(**settings).operations_url)


def _robot(engine: Engine, serial: str) -> Row[Any]:
    with engine.connect() as connection:
        return connection.execute(
            select(Robot.lng, Robot.reading_at, Robot.state).where(Robot.serial == serial)
        ).one()


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _reading(lng: float, at: datetime, **extra: Any) -> dict[str, Any]:
    return {"lat": 34.0901, "lng": lng, "battery_pct": 80.0, "at": at.isoformat(), **extra}


def test_a_killed_server_loses_only_the_positions_since_its_last_write_never_a_state_change(
    tmp_path: Path, database_url: str
) -> None:
    env = _env(tmp_path, database_url)
    tokens = {serial: _add_robot(serial, env, tmp_path) for serial in ("SW-1", "SW-2")}
    engine = _operations_engine(env)
    try:
        with _server(env, tmp_path) as (url, server), httpx.Client(base_url=url) as http:

            def post(serial: str, body: dict[str, Any]) -> dict[str, Any]:
                auth = {"Authorization": f"Bearer {tokens[serial]}"}
                answer = http.post(f"/ops/v1/robots/{serial}/telemetry", json=body, headers=auth)
                assert answer.status_code == 200, answer.text
                result: dict[str, Any] = answer.json()
                return result

            lng = [-118.3617 - 0.0001 * i for i in range(12)]
            at = [START + timedelta(seconds=i) for i in range(12)]
            for i in range(6):  # moving: each reading taken in memory
                assert post("SW-1", _reading(lng[i], at[i]))["position"]["lng"] == lng[i]
            _until(lambda: _robot(engine, "SW-1").lng == lng[5], "the readings were not written")
            for i in range(6, 12):  # then killed before these need be written
                post("SW-1", _reading(lng[i], at[i]))
            post("SW-2", _reading(lng[0], at[0]))
            assert post("SW-2", _reading(lng[1], at[1], state="fault"))["state"] == "fault"
            server.send_signal(signal.SIGKILL)
            server.wait(timeout=30)

        kept = _robot(engine, "SW-1")
        assert kept.lng in lng[5:], "a reading older than the last write came back"
        assert kept.reading_at == at[lng.index(kept.lng)]
        faulted = _robot(engine, "SW-2")
        assert faulted.state == "fault"
        with engine.connect() as connection:
            history = connection.scalars(
                select(StateHistory.state).where(StateHistory.serial == "SW-2")
                .order_by(StateHistory.date)
            ).all()  # fmt: skip
        assert history[-1] == "fault"
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_two_processes_ingesting_for_one_fleet_keep_the_newest_reading_and_every_change(
    tmp_path: Path, postgres_template: str
) -> None:
    with fresh_postgres_database(postgres_template) as database_url:
        env = _env(tmp_path, database_url)
        serials = [f"SW-{i}" for i in range(6)]
        tokens = {serial: _add_robot(serial, env, tmp_path) for serial in serials}
        engine = _operations_engine(env)
        with (
            _server(env, tmp_path) as (one, _),
            _server(env, tmp_path) as (two, _),
            httpx.Client() as http,
        ):

            def post(base: str, serial: str, body: dict[str, Any]) -> dict[str, Any]:
                auth = {"Authorization": f"Bearer {tokens[serial]}"}
                answer = http.post(
                    f"{base}/ops/v1/robots/{serial}/telemetry", json=body, headers=auth
                )
                assert answer.status_code == 200, answer.text
                result: dict[str, Any] = answer.json()
                return result

            # Each robot's readings alternate between the processes, and each process also
            # gets a late one, taken before everything else was.
            for step in range(1, 21):
                for i, serial in enumerate(serials):
                    base = (one, two)[(step + i) % 2]
                    post(
                        base,
                        serial,
                        _reading(-118.36 - 0.0001 * step, START + timedelta(seconds=step)),
                    )
            for serial in serials:
                post(one, serial, _reading(-118.30, START))
                post(two, serial, _reading(-118.30, START))
            newest = -118.36 - 0.0001 * 20

            def all_newest() -> bool:
                return all(_robot(engine, s).lng == newest for s in serials)

            _until(all_newest, "the newest readings were not all written")
            # A fault taken by one process is the state both answer with from then on.
            assert post(one, "SW-0", _reading(newest, START + timedelta(seconds=21),
                                              state="fault"))["state"] == "fault"  # fmt: skip
            later = START + timedelta(seconds=22)
            _until(
                lambda: post(two, "SW-0", _reading(newest, later))["state"] == "fault",
                "the other process never saw the fault",
            )
            with engine.connect() as connection:
                changes = connection.scalars(
                    select(StateHistory.state).where(StateHistory.serial == "SW-0")
                    .order_by(StateHistory.date)
                ).all()  # fmt: skip
            assert changes == ["offline", "idle", "fault"]
        for serial in serials:
            assert _robot(engine, serial).lng == newest
        engine.dispose()
