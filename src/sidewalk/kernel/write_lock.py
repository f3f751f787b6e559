"""The write lock of a SQLite database, taken in turn by every writer of every process.

SQLite admits one writer at a time. A writer that finds the database taken waits in SQLite's
busy handler, which sleeps and tries again, backing off up to 100 ms a sleep: the lock may be
free for most of that sleep, and another writer may take it in between, again and again. With
several processes writing one file (`serve all --ops-workers N`: each replica flushes its
readings and its audit rows, the main process dispatches and relays events), a writer could
wait seconds for a lock that was free most of the time.

So every writer of a file first takes this lock for its whole transaction: a thread lock
within the process, then an exclusive `flock` on a file beside the database, which the
kernel hands to the next waiting process as soon as it is released (and releases itself if
its holder dies). The database's own lock is then always free when a writer asks for it.
Readers take neither (WAL: a reader never waits for a writer)."""

import asyncio
import fcntl
import os
import threading
import weakref
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from sqlalchemy import Engine

_BY_FILE: dict[Path, "SqliteWriteLock"] = {}
_BY_ENGINE: "weakref.WeakKeyDictionary[Engine, threading.RLock]" = weakref.WeakKeyDictionary()
_GUARD = threading.Lock()
T = TypeVar("T")


class SqliteWriteLock:
    """Re-entrant within a thread (a use case may open a unit of work inside another), and
    exclusive across the threads and the processes that write `database`."""

    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + ".write-lock")
        self._thread = threading.RLock()
        self._depth = 0  # changed only by the thread holding `_thread`
        self._fd: int | None = None
        self._pid = 0

    def acquire(self, blocking: bool = True) -> bool:
        """Take the lock, waiting for it unless told not to (as a thread lock does); True if
        taken."""
        if not self._thread.acquire(blocking=blocking):
            return False
        try:
            if self._depth == 0:
                fcntl.flock(self._file(), fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            self._thread.release()
            return False
        except BaseException:
            self._thread.release()
            raise
        self._depth += 1
        return True

    def release(self) -> None:
        self.__exit__(None, None, None)

    def __enter__(self) -> "SqliteWriteLock":
        self.acquire()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._depth -= 1
        try:
            if self._depth == 0:
                fcntl.flock(self._file(), fcntl.LOCK_UN)
        finally:
            self._thread.release()

    def _file(self) -> int:
        """This process's own descriptor: a child made by fork shares its parent's open file,
        and with it the parent's `flock`, so it opens one of its own."""
        if self._fd is None or self._pid != os.getpid():
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            self._pid = os.getpid()
        return self._fd


def write_lock_for(engine: Engine) -> AbstractContextManager[object] | None:
    """The lock every writer of `engine`'s database holds for its whole transaction: on a
    SQLite file one per file for the whole process, on an in-memory SQLite one per engine,
    and none on PostgreSQL (whose writers lock rows, not the database)."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    with _GUARD:
        if not database or database == ":memory:" or database.startswith("file:"):
            return _BY_ENGINE.setdefault(engine, threading.RLock())
        path = Path(database).resolve()
        lock = _BY_FILE.get(path)
        if lock is None:
            lock = _BY_FILE[path] = SqliteWriteLock(path)
        return lock


async def write_soon(lock: AbstractContextManager[object] | None, write: Callable[[], T]) -> T:
    """Run `write`, a short batch of SQLite statements, on the event loop when the database's
    write lock is free at once, else on a thread, which waits for it there. A batch costs the
    process the same CPU either way, but a thread gives the interpreter lock up at each of its
    statements and, while the loop is busy, waits about a millisecond to get it back each
    time: a group commit of a dozen statements spent more time waiting than writing. Without
    a lock to take (PostgreSQL, whose statements wait on the network) always on a thread."""
    # A file's lock and an in-memory database's thread lock take and give alike.
    acquire = getattr(lock, "acquire", None)
    if acquire is None or not acquire(blocking=False):
        return await asyncio.to_thread(write)
    try:
        return write()
    finally:
        lock.release()  # type: ignore[union-attr]
