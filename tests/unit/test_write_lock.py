"""The SQLite write lock that every writer of every process takes in turn."""

import asyncio
import multiprocessing
import threading
import time
from pathlib import Path

from sqlalchemy import create_engine

from sidewalk.kernel.db import make_engine
from sidewalk.kernel.write_lock import SqliteWriteLock, write_lock_for, write_soon


def _take_and_tell(database: str, told: str) -> None:
    with write_lock_for(make_engine(f"sqlite:///{database}")):  # type: ignore[union-attr]
        Path(told).write_text(str(time.monotonic()))


def test_another_process_waits_until_the_holder_lets_go(tmp_path: Path) -> None:
    database, told = tmp_path / "ops.db", tmp_path / "told"
    lock = write_lock_for(make_engine(f"sqlite:///{database}"))
    assert isinstance(lock, SqliteWriteLock)
    with lock:
        child = multiprocessing.get_context("spawn").Process(
            target=_take_and_tell, args=(str(database), str(told))
        )
        child.start()
        time.sleep(1.0)  # the child is up and waiting by now
        assert not told.exists()
        let_go = time.monotonic()
    child.join(30)
    assert child.exitcode == 0
    assert float(told.read_text()) >= let_go


def test_it_is_reentrant_in_a_thread_and_exclusive_between_threads(tmp_path: Path) -> None:
    lock = SqliteWriteLock(tmp_path / "ops.db")
    order: list[str] = []

    def other() -> None:
        with lock:
            order.append("other")

    with lock:
        with lock:  # a unit of work opened inside another
            thread = threading.Thread(target=other)
            thread.start()
            thread.join(0.3)
            order.append("inner")
        assert thread.is_alive()  # still one level held
        order.append("outer")
    thread.join(5)
    assert order == ["inner", "outer", "other"]


def test_one_lock_per_file_and_none_on_postgresql(tmp_path: Path) -> None:
    first = write_lock_for(make_engine(f"sqlite:///{tmp_path / 'a.db'}"))
    again = write_lock_for(make_engine(f"sqlite:///{tmp_path / 'a.db'}", writer=False))
    other = write_lock_for(make_engine(f"sqlite:///{tmp_path / 'b.db'}"))
    assert first is again
    assert first is not other
    memory = make_engine("sqlite://")
    assert write_lock_for(memory) is write_lock_for(memory)
    assert write_lock_for(memory) is not write_lock_for(make_engine("sqlite://"))
    assert write_lock_for(create_engine("postgresql+psycopg://x@127.0.0.1/none")) is None


def test_a_short_write_runs_on_the_loop_when_the_lock_is_free_and_waits_on_a_thread_if_not(
    tmp_path: Path,
) -> None:
    lock = SqliteWriteLock(tmp_path / "ops.db")
    held, let_go = threading.Event(), threading.Event()

    def holder() -> None:
        with lock:
            held.set()
            let_go.wait(5)

    def where() -> str:
        with lock:  # as a unit of work takes it: at once where it is held already
            return threading.current_thread().name

    async def main() -> tuple[str, str, str]:
        free = await write_soon(lock, where)
        other = threading.Thread(target=holder, name="holder")
        other.start()
        held.wait(5)
        waiting = asyncio.create_task(write_soon(lock, where))
        await asyncio.sleep(0.2)
        assert not waiting.done()  # the loop is not blocked, the write waits on its thread
        let_go.set()
        taken = await waiting
        other.join(5)
        return free, taken, threading.current_thread().name

    free, taken, loop_thread = asyncio.run(main())
    assert free == loop_thread
    assert taken not in (loop_thread, "holder")
    assert lock.acquire(blocking=False)  # every level let go
    lock.release()
